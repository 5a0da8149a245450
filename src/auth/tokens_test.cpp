#include "auth/tokens.hpp"

#include <gtest/gtest.h>

#include <sodium.h>

#include <map>

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

// Keys by kid, one of them current: what `parley keys rotate` does to the real ones.
class RotatingKeys final : public SigningKeys {
 public:
  std::map<std::string, std::string, std::less<>> keys{{"k1", std::string(32, '1')}};
  std::string current_kid = "k1";
  Key current() const override { return {current_kid, keys.at(current_kid)}; }
  std::optional<std::string> find(std::string_view kid) const override {
    auto it = keys.find(kid);
    if (it == keys.end()) return std::nullopt;
    return it->second;
  }
};

std::string header_of(const std::string& token) {
  return *base64url_decode(token.substr(0, token.find('.')));
}

TEST(Tokens, RotatingKeysNameTheKidAndTokensOfThePreviousKeyStayValid) {
  ManualClock clock(1'790'000'000'000);
  RotatingKeys keys;
  TokenSigner signer(kSecret, std::chrono::seconds(900), clock, &keys);
  const auto before = signer.issue(42, "alice", 7);
  EXPECT_EQ(header_of(before), R"({"alg":"HS256","kid":"k1","typ":"JWT"})");

  keys.keys["k2"] = std::string(32, '2');
  keys.current_kid = "k2";
  const auto after = signer.issue(42, "alice", 8);
  EXPECT_EQ(header_of(after), R"({"alg":"HS256","kid":"k2","typ":"JWT"})");
  EXPECT_EQ(signer.verify(before)->session_id, 7);
  EXPECT_EQ(signer.verify(after)->session_id, 8);
  // ... until it expires.
  clock.advance(900'000);
  EXPECT_NE(signer.verify(before).error().message.find("expired"), std::string::npos);
}

TEST(Tokens, AnUnknownOrRelabelledKidIsRefusedAndATokenWithoutOneUsesTheSecret) {
  ManualClock clock(1'790'000'000'000);
  RotatingKeys keys;
  keys.keys["k2"] = std::string(32, '2');
  TokenSigner signer(kSecret, std::chrono::seconds(900), clock, &keys);

  RotatingKeys elsewhere;
  elsewhere.keys = {{"k9", std::string(32, '9')}};
  elsewhere.current_kid = "k9";
  TokenSigner stranger(kSecret, std::chrono::seconds(900), clock, &elsewhere);
  EXPECT_NE(signer.verify(stranger.issue(42, "alice", 7)).error().message.find("unknown key"),
            std::string::npos);

  // The header says k2, the signature is k1's.
  const auto token = signer.issue(42, "alice", 7);
  const auto relabelled = base64url_encode(R"({"alg":"HS256","kid":"k2","typ":"JWT"})") +
                          token.substr(token.find('.'));
  EXPECT_NE(signer.verify(relabelled).error().message.find("signature"), std::string::npos);
  const auto not_a_string = base64url_encode(R"({"alg":"HS256","kid":1,"typ":"JWT"})") +
                            token.substr(token.find('.'));
  EXPECT_FALSE(signer.verify(not_a_string).ok());

  // Without a kid: the fixed secret (tokens from before rotation, bench/loadgen's).
  TokenSigner legacy(kSecret, std::chrono::seconds(900), clock);
  EXPECT_TRUE(signer.verify(legacy.issue(42, "alice", 7)).ok());
  // A signer without rotating keys knows no kid.
  EXPECT_FALSE(legacy.verify(token).ok());
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

TEST(Base64Url, DecodesExactlyWhatLibsodiumDoes) {
  // The table decoder against libsodium's, on every length up to 40 and on corrupted text.
  std::string bytes;
  for (int n = 0; n < 40; ++n) {
    const auto text = base64url_encode(bytes);
    EXPECT_EQ(base64url_decode(text), bytes) << n;
    for (std::size_t i = 0; i < text.size(); ++i) {
      for (char c : {'=', '+', '/', ' ', '\0', 'A', 'B', 'f'}) {
        std::string bad = text;
        bad[i] = c;
        unsigned char out[64];
        std::size_t len = 0;
        const char* end = nullptr;
        const bool sodium_ok = sodium_base642bin(out, sizeof out, bad.data(), bad.size(), nullptr, &len, &end,
                                                 sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
                               end == bad.data() + bad.size();
        const auto ours = base64url_decode(bad);
        ASSERT_EQ(ours.has_value(), sodium_ok) << bad;
        if (ours) {
          EXPECT_EQ(*ours, std::string(reinterpret_cast<char*>(out), len)) << bad;
        }
      }
    }
    if (text.size() % 4 == 0) {
      EXPECT_FALSE(base64url_decode(text + "A")) << "a length of 1 mod 4";
    }
    bytes += static_cast<char>(n * 37 + 11);
  }
}

}  // namespace
}  // namespace parley::auth
