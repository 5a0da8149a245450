#include "auth/signed_json.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "auth/base64.hpp"

namespace parley::auth {
namespace {

namespace json = boost::json;

TEST(SignedJson, OpensWhatItSignedAndNothingElse) {
  const std::string key(32, 'k');
  const json::object claims{{"u", 7}, {"d", "phone"}};
  const auto text = sign_json(key, claims);
  EXPECT_EQ(*open_signed_json(key, text), claims);
  EXPECT_FALSE(open_signed_json(std::string(32, 'x'), text));  // another key
  auto tampered = text;
  tampered[2] = tampered[2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(open_signed_json(key, tampered));
  EXPECT_FALSE(open_signed_json(key, text, text.size() - 1));  // past the size cap
  for (const char* junk : {"", ".", "abc", "abc.def"}) EXPECT_FALSE(open_signed_json(key, junk));
}

TEST(SignedJson, DecodesOnlyShallowObjects) {
  json::value storage;
  EXPECT_NE(decode_json_part(base64url_encode(R"({"a":1})"), storage), nullptr);
  EXPECT_EQ(decode_json_part(base64url_encode("[1]"), storage), nullptr);
  EXPECT_EQ(decode_json_part("!!", storage), nullptr);
  const std::string deep = R"({"a":[[[[[[[[[[1]]]]]]]]]]})";
  EXPECT_EQ(decode_json_part(base64url_encode(deep), storage), nullptr);
}

}  // namespace
}  // namespace parley::auth
