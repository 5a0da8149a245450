// Web Push encryption against RFC 8291's own example, and VAPID tokens verified as a push
// service would (src/push/web_push.hpp).
#include "push/web_push.hpp"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>

#include <boost/json.hpp>

#include "auth/base64.hpp"

namespace parley::push {
namespace {

std::string b64(std::string_view text) { return auth::base64url_decode(text).value(); }

// RFC 8291 Appendix A.
const std::string kAuth = b64("BTBZMqHH6r4Tts7J_aSIgg");
const std::string kReceiverPrivate = b64("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94");
const std::string kReceiverPublic =
    b64("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4");
const std::string kSenderPrivate = b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw");
const std::string kSenderPublic =
    b64("BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8");
const std::string kSalt = b64("DGv6ra1nlYgDCS1FRnbzlw");
const std::string kPlaintext = "When I grow up, I want to be a watermelon";
const std::string kBody = b64(
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqK"
    "K6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN");

const unsigned char* u(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

EVP_PKEY* p256(std::string_view pub, std::string_view priv = {}) {
  OSSL_PARAM_BLD* b = OSSL_PARAM_BLD_new();
  BIGNUM* d = priv.empty() ? nullptr : BN_bin2bn(u(priv), static_cast<int>(priv.size()), nullptr);
  OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
  OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pub.data(), pub.size());
  if (d) OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, d);
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(b);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY* key = nullptr;
  EVP_PKEY_fromdata_init(ctx);
  EVP_PKEY_fromdata(ctx, &key, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  BN_free(d);
  OSSL_PARAM_BLD_free(b);
  return key;
}

std::string hkdf(std::string_view salt, std::string_view ikm, std::string_view info, std::size_t n) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(ikm.data()), ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size()),
      OSSL_PARAM_construct_end()};
  std::string out(n, '\0');
  EVP_KDF_derive(ctx, reinterpret_cast<unsigned char*>(out.data()), n, params);
  EVP_KDF_CTX_free(ctx);
  return out;
}

// The receiving side of RFC 8291, written here independently: what a browser does with a body.
std::optional<std::string> open_body(std::string_view body, std::string_view receiver_private,
                                     std::string_view receiver_public, std::string_view auth_secret) {
  if (body.size() < 86 + 17 || static_cast<unsigned char>(body[20]) != 65) return std::nullopt;
  const std::string_view salt = body.substr(0, 16);
  const std::string_view sender_public = body.substr(21, 65);
  const std::string_view record = body.substr(86);
  EVP_PKEY* mine = p256(receiver_public, receiver_private);
  EVP_PKEY* theirs = p256(sender_public);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, mine, nullptr);
  std::string shared(32, '\0');
  std::size_t n = shared.size();
  EVP_PKEY_derive_init(ctx);
  EVP_PKEY_derive_set_peer(ctx, theirs);
  const bool derived = EVP_PKEY_derive(ctx, reinterpret_cast<unsigned char*>(shared.data()), &n) == 1;
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(mine);
  EVP_PKEY_free(theirs);
  if (!derived) return std::nullopt;
  using namespace std::string_literals;
  const std::string ikm = hkdf(auth_secret, shared, "WebPush: info\0"s + std::string(receiver_public) + std::string(sender_public), 32);
  const std::string cek = hkdf(salt, ikm, "Content-Encoding: aes128gcm\0"s, 16);
  const std::string nonce = hkdf(salt, ikm, "Content-Encoding: nonce\0"s, 12);
  std::string plain(record.size() - 16, '\0');
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  int len = 0;
  int tail = 0;
  const bool ok =
      EVP_DecryptInit_ex2(c, EVP_aes_128_gcm(), u(cek), u(nonce), nullptr) == 1 &&
      EVP_DecryptUpdate(c, reinterpret_cast<unsigned char*>(plain.data()), &len, u(record), static_cast<int>(record.size() - 16)) == 1 &&
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, const_cast<char*>(record.data() + record.size() - 16)) == 1 &&
      EVP_DecryptFinal_ex(c, reinterpret_cast<unsigned char*>(plain.data()) + len, &tail) == 1;
  EVP_CIPHER_CTX_free(c);
  if (!ok || plain.empty() || plain.back() != '\x02') return std::nullopt;
  plain.pop_back();
  return plain;
}

TEST(WebPushEncrypt, MatchesTheRfc8291Example) {
  auto body = encrypt(kPlaintext, {kReceiverPublic, kAuth}, EncryptFixture{kSalt, kSenderPrivate, kSenderPublic});
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_EQ(*body, kBody);
}

TEST(WebPushEncrypt, ARandomBodyOpensWithTheSubscriptionsKeysOnly) {
  auto body = encrypt("3 new messages from bob", {kReceiverPublic, kAuth});
  ASSERT_TRUE(body);
  EXPECT_EQ(body->size(), 86 + 23 + 1 + 16);
  EXPECT_EQ(open_body(*body, kReceiverPrivate, kReceiverPublic, kAuth), "3 new messages from bob");
  // A fresh salt and key each time: the same payload never encrypts the same way twice.
  EXPECT_NE(*body, *encrypt("3 new messages from bob", {kReceiverPublic, kAuth}));
  // Another auth secret does not open it.
  EXPECT_EQ(open_body(*body, kReceiverPrivate, kReceiverPublic, std::string(16, 'x')), std::nullopt);
}

TEST(WebPushEncrypt, RefusesBadKeysAndLongPayloads) {
  EXPECT_EQ(encrypt("x", {kReceiverPublic.substr(1), kAuth}).error().code, Errc::bad_request);
  EXPECT_EQ(encrypt("x", {kReceiverPublic, kAuth.substr(1)}).error().code, Errc::bad_request);
  std::string off_curve = kReceiverPublic;
  off_curve[40] ^= 1;  // y no longer matches x
  EXPECT_EQ(encrypt("x", {off_curve, kAuth}).error().code, Errc::bad_request);
  EXPECT_TRUE(encrypt(std::string(kMaxPlaintext, 'a'), {kReceiverPublic, kAuth}));
  EXPECT_EQ(encrypt(std::string(kMaxPlaintext + 1, 'a'), {kReceiverPublic, kAuth}).error().code, Errc::too_large);
}

// A push service's check of the header: the JWT's ES256 signature against `k`, and its claims.
TEST(Vapid, TheHeaderVerifiesWithItsKeyAndCarriesTheClaims) {
  auto key = VapidKey::generate();
  ASSERT_TRUE(key);
  auto header = key->authorization("https://push.example.net", "mailto:ops@example.com", 1'900'000'000);
  ASSERT_TRUE(header);
  ASSERT_EQ(header->rfind("vapid t=", 0), 0u);
  const auto comma = header->find(", k=");
  const std::string jwt = header->substr(8, comma - 8);
  EXPECT_EQ(b64(header->substr(comma + 4)), key->public_key());
  ASSERT_EQ(key->public_key().size(), 65u);

  const auto dot2 = jwt.rfind('.');
  const std::string signed_part = jwt.substr(0, dot2);
  const std::string raw = b64(jwt.substr(dot2 + 1));
  ASSERT_EQ(raw.size(), 64u);
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(u(raw), 32, nullptr), BN_bin2bn(u(raw) + 32, 32, nullptr));
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  EVP_PKEY* pub = p256(key->public_key());
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EXPECT_EQ(EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, pub), 1);
  EXPECT_EQ(EVP_DigestVerify(md, der, static_cast<std::size_t>(der_len), u(signed_part), signed_part.size()), 1);
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(pub);
  OPENSSL_free(der);

  const auto claims = boost::json::parse(b64(signed_part.substr(signed_part.find('.') + 1))).as_object();
  EXPECT_EQ(claims.at("aud").as_string(), "https://push.example.net");
  EXPECT_EQ(claims.at("exp").as_int64(), 1'900'000'000);
  EXPECT_EQ(claims.at("sub").as_string(), "mailto:ops@example.com");
  EXPECT_EQ(boost::json::parse(b64(signed_part.substr(0, signed_part.find('.')))).as_object().at("alg").as_string(), "ES256");
}

TEST(Vapid, AKeyKeptAsPemIsTheSameKey) {
  auto key = VapidKey::generate();
  ASSERT_TRUE(key);
  auto again = VapidKey::from_pem(key->to_pem());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->public_key(), key->public_key());
  EXPECT_FALSE(VapidKey::from_pem("not a key"));
}

TEST(Vapid, TheAudienceIsTheEndpointsOrigin) {
  EXPECT_EQ(endpoint_origin("https://fcm.googleapis.com/wp/abc?x=1"), "https://fcm.googleapis.com");
  EXPECT_EQ(endpoint_origin("http://127.0.0.1:8090/notify/ab12"), "http://127.0.0.1:8090");
  EXPECT_EQ(endpoint_origin("https://updates.push.services.mozilla.com"), "https://updates.push.services.mozilla.com");
  EXPECT_EQ(endpoint_origin("ftp://example.com/x"), std::nullopt);
  EXPECT_EQ(endpoint_origin("https:///x"), std::nullopt);
  EXPECT_EQ(endpoint_origin("no scheme"), std::nullopt);
}

}  // namespace
}  // namespace parley::push
