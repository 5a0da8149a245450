// The envelope check (service/e2ee.hpp): what an end-to-end encrypted conversation accepts as a
// body. The integration suite (tests/integration/test_e2ee.py) sends real envelopes.
#include "service/e2ee.hpp"

#include <gtest/gtest.h>

#include <string>

#include "auth/base64.hpp"

namespace parley::e2ee {
namespace {

std::string b64(std::size_t n) { return auth::base64url_encode(std::string(n, '\x07')); }

std::string box(const std::string& extra = "") {
  return R"({"user":"bob","device":"phone","spk":1,"opk":3,"ek":")" + b64(32) + R"(","nonce":")" +
         b64(24) + R"(","ct":")" + b64(60) + "\"" + extra + "}";
}

std::string envelope(const std::string& keys = "", const std::string& extra = "") {
  return R"({"v":1,"device":"phone","key":"k1","nonce":")" + b64(24) + R"(","ct":")" + b64(40) +
         R"(","sig":")" + b64(64) + "\"" + (keys.empty() ? "" : ",\"keys\":[" + keys + "]") +
         extra + "}";
}

Error refusal(const std::string& body, std::size_t max = 1 << 20) {
  auto s = check_envelope(body, max);
  EXPECT_FALSE(s.ok()) << body;
  return s.ok() ? Error{Errc::internal, ""} : s.error();
}

TEST(E2eeEnvelope, AcceptsTheDocumentedShapeWithAndWithoutKeyBoxes) {
  EXPECT_TRUE(check_envelope(envelope(), 1 << 20).ok());
  EXPECT_TRUE(check_envelope(envelope(box() + "," + box()), 1 << 20).ok());
}

TEST(E2eeEnvelope, APlaintextBodyIsE2eeRequired) {
  for (const char* body : {"hello", "{\"text\":\"hi\"}", "[1,2]", "42", "{\"v\""}) {
    EXPECT_EQ(refusal(body).code, Errc::e2ee_required) << body;
  }
}

TEST(E2eeEnvelope, AWrongFieldIsABadRequestNamingIt) {
  const std::string good = envelope(box());
  auto replace = [&](const std::string& from, const std::string& to) {
    auto s = good;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  struct Case {
    std::string body;
    std::string field;
  };
  const Case cases[] = {
      {replace("\"v\":1", "\"v\":2"), "'v'"},
      {replace("\"device\":\"phone\"", "\"device\":\"a/b\""), "'device'"},
      {replace("\"key\":\"k1\"", "\"key\":7"), "'key'"},
      {replace("\"nonce\":\"" + b64(24), "\"nonce\":\"" + b64(12)), "'nonce'"},
      {replace("\"sig\":\"" + b64(64), "\"sig\":\"!!"), "'sig'"},
      {replace("\"ct\":\"" + b64(40), "\"ct\":\"" + b64(8)), "'ct'"},
      {envelope(box(), ",\"extra\":1"), "'extra'"},
      {envelope(box(",\"x\":1")), "'x'"},
      {replace("\"ek\":\"" + b64(32), "\"ek\":\"" + b64(31)), "'ek'"},
      {replace("\"spk\":1", "\"spk\":0"), "'spk'"},
      {replace("\"opk\":3", "\"opk\":\"3\""), "'opk'"},
      {envelope("7"), "'keys'"},
  };
  for (const auto& c : cases) {
    auto e = refusal(c.body);
    EXPECT_EQ(e.code, Errc::bad_request) << c.body;
    EXPECT_NE(e.message.find(c.field), std::string::npos) << e.message;
  }
  auto missing = good;
  const std::string sig = ",\"sig\":\"" + b64(64) + "\"";
  missing.replace(missing.find(sig), sig.size(), "");
  EXPECT_NE(refusal(missing).message.find("'sig' is required"), std::string::npos) << missing;
}

TEST(E2eeEnvelope, SizeAndKeyBoxCountAreLimited) {
  const auto body = envelope(box());
  EXPECT_TRUE(check_envelope(body, body.size()).ok());
  EXPECT_EQ(refusal(body, body.size() - 1).code, Errc::too_large);
  std::string many = box();
  for (std::size_t i = 0; i < kMaxKeyBoxes; ++i) many += "," + box();
  EXPECT_EQ(refusal(envelope(many)).code, Errc::bad_request);
}

TEST(E2eeEnvelope, NamesAndBase64) {
  EXPECT_TRUE(is_valid_name("Phone-2_a.b"));
  EXPECT_FALSE(is_valid_name(""));
  EXPECT_FALSE(is_valid_name(std::string(65, 'a')));
  EXPECT_FALSE(is_valid_name("ph one"));
  EXPECT_TRUE(is_base64url_of(b64(32), 32));
  EXPECT_FALSE(is_base64url_of(b64(32) + "=", 32));
  EXPECT_TRUE(is_base64url_of(b64(40), 16, true));
  EXPECT_FALSE(is_base64url_of(b64(15), 16, true));
}

}  // namespace
}  // namespace parley::e2ee
