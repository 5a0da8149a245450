#include "auth/totp.hpp"

#include <gtest/gtest.h>

#include <set>

namespace parley::auth {
namespace {

const std::string kRfcSecret = "12345678901234567890";  // RFC 6238 Appendix B, SHA-1

TEST(Totp, MatchesRfc6238AppendixB) {
  // The RFC's 8-digit values; apps use 6, the same number's last six digits.
  EXPECT_EQ(totp_code(kRfcSecret, 59 / 30, 8), "94287082");
  EXPECT_EQ(totp_code(kRfcSecret, 1111111109 / 30, 8), "07081804");
  EXPECT_EQ(totp_code(kRfcSecret, 1111111111 / 30, 8), "14050471");
  EXPECT_EQ(totp_code(kRfcSecret, 1234567890 / 30, 8), "89005924");
  EXPECT_EQ(totp_code(kRfcSecret, 2000000000 / 30, 8), "69279037");
  EXPECT_EQ(totp_code(kRfcSecret, 1234567890 / 30), "005924");
}

TEST(Totp, AcceptsTheStepBeforeAndAfterAndNothingElse) {
  const TimeMs now = 1'111'111'111'000;
  const auto step = totp_step(now);
  EXPECT_EQ(totp_match(kRfcSecret, totp_code(kRfcSecret, step), now), step);
  EXPECT_EQ(totp_match(kRfcSecret, totp_code(kRfcSecret, step - 1), now), step - 1);
  EXPECT_EQ(totp_match(kRfcSecret, totp_code(kRfcSecret, step + 1), now), step + 1);
  EXPECT_FALSE(totp_match(kRfcSecret, totp_code(kRfcSecret, step - 2), now));
  EXPECT_FALSE(totp_match(kRfcSecret, "12345", now));
  EXPECT_FALSE(totp_match(kRfcSecret, "abcdef", now));
}

TEST(Totp, Base32AndTheOtpauthUri) {
  EXPECT_EQ(base32_encode("foobar"), "MZXW6YTBOI");  // RFC 4648 §10, unpadded
  EXPECT_EQ(*base32_decode("MZXW6YTBOI"), "foobar");
  EXPECT_FALSE(base32_decode("mzxw"));
  const auto secret = new_totp_secret();
  EXPECT_EQ(secret.size(), 20u);
  EXPECT_EQ(*base32_decode(base32_encode(secret)), secret);
  EXPECT_EQ(otpauth_uri("Parley", "alice", "foobar"),
            "otpauth://totp/Parley:alice?secret=MZXW6YTBOI&issuer=Parley&algorithm=SHA1&digits=6"
            "&period=30");
}

TEST(Totp, RecoveryCodesAreDistinctAndReadable) {
  const auto codes = new_recovery_codes();
  ASSERT_EQ(codes.size(), 10u);
  EXPECT_EQ(std::set<std::string>(codes.begin(), codes.end()).size(), 10u);
  for (const auto& c : codes) {
    ASSERT_EQ(c.size(), 11u);
    EXPECT_EQ(c[5], '-');
    EXPECT_EQ(c.find_first_of("l1o0i"), std::string::npos);
  }
}

}  // namespace
}  // namespace parley::auth
