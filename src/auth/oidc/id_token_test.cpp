// ID-token verification against keys made here with OpenSSL: every forgery the issue lists
// (a forged signature, alg none, HS256 signed with the public key, an unpinned algorithm), every
// claim check, and the JWK Set parser.
#include "auth/oidc/id_token.hpp"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include <boost/json.hpp>

#include "auth/base64.hpp"

namespace parley::auth::oidc {
namespace {

namespace json = boost::json;

constexpr TimeMs kNow = 1'790'000'000'000;
constexpr std::int64_t kNowS = kNow / 1000;

struct TestKey {
  EVP_PKEY* key = nullptr;
  std::string kid;
  bool ec = false;
  ~TestKey() { EVP_PKEY_free(key); }

  static std::unique_ptr<TestKey> rsa(std::string kid, int bits = 2048) {
    auto k = std::make_unique<TestKey>();
    k->key = EVP_RSA_gen(static_cast<unsigned>(bits));
    k->kid = std::move(kid);
    return k;
  }
  static std::unique_ptr<TestKey> p256(std::string kid) {
    auto k = std::make_unique<TestKey>();
    k->key = EVP_EC_gen("P-256");
    k->kid = std::move(kid);
    k->ec = true;
    return k;
  }
  std::string bn(const char* name) const {
    BIGNUM* b = nullptr;
    EVP_PKEY_get_bn_param(key, name, &b);
    std::string out(static_cast<std::size_t>(BN_num_bytes(b)), '\0');
    BN_bn2bin(b, reinterpret_cast<unsigned char*>(out.data()));
    BN_free(b);
    return out;
  }
  json::object jwk() const {
    if (!ec) {
      return {{"kty", "RSA"}, {"kid", kid}, {"use", "sig"},
              {"n", base64url_encode(bn(OSSL_PKEY_PARAM_RSA_N))},
              {"e", base64url_encode(bn(OSSL_PKEY_PARAM_RSA_E))}};
    }
    unsigned char point[65];
    std::size_t length = 0;
    EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &length);
    const std::string p(reinterpret_cast<const char*>(point), length);
    return {{"kty", "EC"}, {"crv", "P-256"}, {"kid", kid},
            {"x", base64url_encode(p.substr(1, 32))}, {"y", base64url_encode(p.substr(33, 32))}};
  }
  // A JWT signed with this key (RS256 or ES256, as its type).
  std::string sign(const json::object& claims, json::object header = {}) const {
    if (!header.contains("alg")) header["alg"] = ec ? "ES256" : "RS256";
    if (!header.contains("kid")) header["kid"] = kid;
    const std::string input = base64url_encode(json::serialize(header)) + "." +
                              base64url_encode(json::serialize(claims));
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    std::size_t length = 0;
    EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, key);
    EVP_DigestSign(md, nullptr, &length, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    std::string sig(length, '\0');
    EVP_DigestSign(md, reinterpret_cast<unsigned char*>(sig.data()), &length,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    EVP_MD_CTX_free(md);
    sig.resize(length);
    if (ec) {  // DER → r || s
      const auto* der = reinterpret_cast<const unsigned char*>(sig.data());
      ECDSA_SIG* s = d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(sig.size()));
      std::string raw(64, '\0');
      BN_bn2binpad(ECDSA_SIG_get0_r(s), reinterpret_cast<unsigned char*>(raw.data()), 32);
      BN_bn2binpad(ECDSA_SIG_get0_s(s), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
      ECDSA_SIG_free(s);
      sig = raw;
    }
    return input + "." + base64url_encode(sig);
  }
};

json::object good_claims() {
  return {{"iss", "https://id.example.test"}, {"aud", "parley"}, {"sub", "user-1"},
          {"exp", kNowS + 300}, {"iat", kNowS - 10}, {"nonce", "n-1"},
          {"email", "alice@example.test"}, {"email_verified", true}, {"name", "Alice"},
          {"picture", "https://img.example.test/a.png"}, {"preferred_username", "alice"}};
}

IdTokenRules rules() {
  IdTokenRules r;
  r.issuer = "https://id.example.test";
  r.client_id = "parley";
  r.algorithms = {"RS256", "ES256"};
  r.nonce = "n-1";
  r.now = kNow;
  return r;
}

class IdToken : public ::testing::Test {
 protected:
  IdToken() : rsa_(TestKey::rsa("r1")), ec_(TestKey::p256("e1")) {
    json::array keys{rsa_->jwk(), ec_->jwk()};
    auto set = JwkSet::parse(json::serialize(json::object{{"keys", keys}}));
    EXPECT_TRUE(set.ok());
    if (set) keys_ = std::move(*set);
  }
  std::string refusal(std::string_view token, const IdTokenRules& r = rules()) {
    auto v = verify_id_token(token, keys_, r);
    EXPECT_FALSE(v.ok()) << token;
    return v.ok() ? "" : v.error().message;
  }
  std::unique_ptr<TestKey> rsa_, ec_;
  JwkSet keys_;
};

TEST_F(IdToken, AcceptsRs256AndEs256TokensAndReadsTheirClaims) {
  for (const auto* key : {rsa_.get(), ec_.get()}) {
    auto v = verify_id_token(key->sign(good_claims()), keys_, rules());
    ASSERT_TRUE(v.ok()) << v.error().message;
    EXPECT_EQ(v->subject, "user-1");
    EXPECT_EQ(v->email, "alice@example.test");
    EXPECT_TRUE(v->email_verified);
    EXPECT_EQ(v->name, "Alice");
    EXPECT_EQ(v->picture, "https://img.example.test/a.png");
    EXPECT_EQ(v->preferred_username, "alice");
    EXPECT_EQ(v->expires_at, (kNowS + 300) * 1000);
  }
  EXPECT_EQ(keys_.size(), 2u);
  EXPECT_TRUE(keys_.has_kid("e1"));
}

TEST_F(IdToken, RefusesForgeriesAndAlgorithmsNotPinned) {
  // Signed by another key that claims the provider's kid.
  const auto impostor = TestKey::rsa("r1");
  EXPECT_NE(refusal(impostor->sign(good_claims())).find("bad signature"), std::string::npos);
  // Claims changed after signing.
  auto token = rsa_->sign(good_claims());
  const auto first = token.find('.'), second = token.rfind('.');
  auto changed = good_claims();
  changed["sub"] = "admin";
  const auto tampered = token.substr(0, first + 1) + base64url_encode(json::serialize(changed)) +
                        token.substr(second);
  EXPECT_NE(refusal(tampered).find("bad signature"), std::string::npos);
  // alg none, with or without a signature.
  const auto payload = base64url_encode(json::serialize(good_claims()));
  const auto none = base64url_encode(R"({"alg":"none","kid":"r1"})") + "." + payload;
  EXPECT_NE(refusal(none + ".").find("'none' is not allowed"), std::string::npos);
  EXPECT_NE(refusal(none + "." + token.substr(second + 1)).find("not allowed"), std::string::npos);
  // HS256 with the provider's public key as the HMAC secret.
  const auto hs_input = base64url_encode(R"({"alg":"HS256","kid":"r1"})") + "." + payload;
  const auto public_n = rsa_->bn(OSSL_PKEY_PARAM_RSA_N);
  unsigned char mac[32];
  unsigned int mac_length = 0;
  HMAC(EVP_sha256(), public_n.data(), static_cast<int>(public_n.size()),
       reinterpret_cast<const unsigned char*>(hs_input.data()), hs_input.size(), mac, &mac_length);
  const auto hs = hs_input + "." + base64url_encode(std::string(reinterpret_cast<char*>(mac), 32));
  EXPECT_NE(refusal(hs).find("'HS256' is not allowed"), std::string::npos);
  // ES256 is a good signature, but this provider pins RS256 only.
  auto rs_only = rules();
  rs_only.algorithms = {"RS256"};
  EXPECT_NE(refusal(ec_->sign(good_claims()), rs_only).find("not allowed for this provider"),
            std::string::npos);
  // An RSA key named in a header that claims ES256.
  EXPECT_FALSE(verify_id_token(rsa_->sign(good_claims(), {{"alg", "ES256"}}), keys_, rules()).ok());
  EXPECT_NE(refusal(rsa_->sign(good_claims(), {{"crit", json::array{"b64"}}})).find("critical"),
            std::string::npos);
  for (const char* junk : {"", "a.b", "a.b.c.d", "!!.??.**"}) refusal(junk);
}

TEST_F(IdToken, AnUnknownKidIsNotFoundSoTheCallerCanRefetchTheKeys) {
  const auto rotated = TestKey::rsa("r2");
  auto v = verify_id_token(rotated->sign(good_claims()), keys_, rules());
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, Errc::not_found);
  EXPECT_EQ(*token_kid(rotated->sign(good_claims())), "r2");
}

TEST_F(IdToken, ChecksIssuerAudienceAuthorizedPartyTimesAndNonce) {
  auto with = [&](const char* name, json::value value) {
    auto c = good_claims();
    c[name] = std::move(value);
    return rsa_->sign(c);
  };
  EXPECT_NE(refusal(with("iss", "https://evil.example.test")).find("issuer"), std::string::npos);
  EXPECT_NE(refusal(with("aud", "someone-else")).find("audience"), std::string::npos);
  EXPECT_NE(refusal(with("aud", json::array{"someone-else", "parley"})).find("azp"),
            std::string::npos);  // several audiences need azp
  auto several = good_claims();
  several["aud"] = json::array{"someone-else", "parley"};
  several["azp"] = "parley";
  EXPECT_TRUE(verify_id_token(rsa_->sign(several), keys_, rules()).ok());
  EXPECT_NE(refusal(with("azp", "someone-else")).find("azp"), std::string::npos);
  EXPECT_NE(refusal(with("exp", kNowS - 61)).find("expired"), std::string::npos);
  EXPECT_TRUE(verify_id_token(with("exp", kNowS - 30), keys_, rules()).ok());  // within skew
  EXPECT_NE(refusal(with("iat", kNowS + 120)).find("future"), std::string::npos);
  EXPECT_NE(refusal(with("iat", kNowS - 3 * 86400)).find("too long ago"), std::string::npos);
  EXPECT_NE(refusal(with("nonce", "n-2")).find("nonce"), std::string::npos);
  EXPECT_NE(refusal(with("sub", "")).find("subject"), std::string::npos);
  auto no_exp = good_claims();
  no_exp.erase("exp");
  EXPECT_NE(refusal(rsa_->sign(no_exp)).find("expiry"), std::string::npos);
  auto no_nonce_needed = rules();
  no_nonce_needed.nonce.reset();
  EXPECT_TRUE(verify_id_token(with("nonce", "anything"), keys_, no_nonce_needed).ok());
}

TEST(JwkSet, KeepsOnlySigningKeysItCanUse) {
  const auto strong = TestKey::rsa("ok");
  const auto weak = TestKey::rsa("weak", 1024);
  auto encryption = strong->jwk();
  encryption["kid"] = "enc";
  encryption["use"] = "enc";
  json::array keys{strong->jwk(), weak->jwk(), encryption,
                   json::object{{"kty", "oct"}, {"k", "c2VjcmV0"}},
                   json::object{{"kty", "EC"}, {"crv", "P-384"}, {"x", "AA"}, {"y", "AA"}}, 42};
  auto set = JwkSet::parse(json::serialize(json::object{{"keys", keys}}));
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->size(), 1u);
  EXPECT_TRUE(set->has_kid("ok"));
  for (const char* bad : {"", "[]", "{\"keys\":{}}", "nonsense"}) {
    EXPECT_EQ(JwkSet::parse(bad).error().code, Errc::bad_request) << bad;
  }
}

TEST(Pkce, S256MatchesRfc7636AppendixB) {
  EXPECT_EQ(code_challenge_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  const auto v = new_code_verifier();
  EXPECT_EQ(v.size(), 43u);
  EXPECT_NE(v, new_code_verifier());
}

}  // namespace
}  // namespace parley::auth::oidc
