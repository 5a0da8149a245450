#include "auth/tokens.hpp"

#include <gtest/gtest.h>

#include "auth/base64.hpp"
#include "auth/password.hpp"

namespace parley::auth {
namespace {

const std::string kSecret(32, 'k');

TEST(Tokens, IssuedTokenVerifies) {
  ManualClock clock(1'790'000'000'000);
  TokenSigner signer(kSecret, std::chrono::seconds(900), clock);
  auto claims = signer.verify(signer.issue(42, "alice", 7));
  ASSERT_TRUE(claims.ok()) << claims.error().message;
  EXPECT_EQ(claims->user_id, 42);
  EXPECT_EQ(claims->username, "alice");
  EXPECT_EQ(claims->session_id, 7);
}

TEST(Tokens, ExpiredTokenIsRefused) {
  ManualClock clock(1'790'000'000'000);
  TokenSigner signer(kSecret, std::chrono::seconds(900), clock);
  const auto token = signer.issue(42, "alice", 7);
  clock.advance(900'000);
  auto claims = signer.verify(token);
  ASSERT_FALSE(claims.ok());
  EXPECT_EQ(claims.error().code, Errc::unauthenticated);
  EXPECT_NE(claims.error().message.find("expired"), std::string::npos);
}

TEST(Tokens, ForgedSignatureIsRefused) {
  ManualClock clock(1'790'000'000'000);
  TokenSigner signer(kSecret, std::chrono::seconds(900), clock);
  TokenSigner other(std::string(32, 'x'), std::chrono::seconds(900), clock);
  EXPECT_FALSE(signer.verify(other.issue(42, "alice", 7)).ok());

  // Claims changed after signing.
  auto token = signer.issue(42, "alice", 7);
  const auto dot1 = token.find('.'), dot2 = token.rfind('.');
  const auto forged = token.substr(0, dot1 + 1) +
                      base64url_encode(R"({"sub":"1","name":"admin","sid":7,"iat":0,"exp":9999999999})") +
                      token.substr(dot2);
  EXPECT_FALSE(signer.verify(forged).ok());
}

TEST(Tokens, AlgorithmIsPinned) {
  ManualClock clock(1'790'000'000'000);
  TokenSigner signer(kSecret, std::chrono::seconds(900), clock);
  const auto claims = base64url_encode(R"({"sub":"42","name":"alice","sid":7,"iat":0,"exp":9999999999})");
  // alg=none with an empty signature: the classic JWT bypass.
  EXPECT_FALSE(signer.verify(base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + claims + ".").ok());
  // A valid HS256 signature under a header that names another algorithm.
  const auto header = base64url_encode(R"({"alg":"HS512","typ":"JWT"})");
  EXPECT_FALSE(signer.verify(header + "." + claims + ".AAAA").ok());
}

TEST(Tokens, GarbageIsRefused) {
  ManualClock clock(0);
  TokenSigner signer(kSecret, std::chrono::seconds(900), clock);
  for (const char* t : {"", "a", "a.b", "a.b.c", "a.b.c.d", "....", "eyJ.eyJ.sig"}) {
    EXPECT_FALSE(signer.verify(t).ok()) << t;
  }
}

TEST(Tokens, ShortSecretsAreRejected) {
  ManualClock clock(0);
  EXPECT_THROW(TokenSigner("short", std::chrono::seconds(1), clock), std::invalid_argument);
}

TEST(Tokens, RefreshTokensAreRandomAndHashedStably) {
  const auto a = new_refresh_token(), b = new_refresh_token();
  EXPECT_NE(a, b);
  EXPECT_GE(a.size(), 43u);
  EXPECT_EQ(hash_refresh_token(a), hash_refresh_token(a));
  EXPECT_NE(hash_refresh_token(a), hash_refresh_token(b));
  EXPECT_EQ(hash_refresh_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Password, Argon2idRoundTrip) {
  auto hash = hash_password("correct horse battery");
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(hash->rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0), 0u) << *hash;
  EXPECT_TRUE(verify_password(*hash, "correct horse battery"));
  EXPECT_FALSE(verify_password(*hash, "correct horse batterx"));
  EXPECT_FALSE(verify_password("not a hash", "x"));
}

TEST(Base64Url, RoundTripsWithoutPadding) {
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_EQ(base64url_decode("-_8"), std::string("\xfb\xff"));
  EXPECT_FALSE(base64url_decode("a=").has_value());
  EXPECT_FALSE(base64url_decode("***").has_value());
}

}  // namespace
}  // namespace parley::auth
