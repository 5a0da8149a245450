#pragma once
// TOTP (RFC 6238) as every authenticator app speaks it: HMAC-SHA1, 30-second steps, 6 digits,
// the secret shared as RFC 4648 base32 in an otpauth:// URI (a QR code's text). And the
// recovery codes that stand in for a lost phone.
//
// Single use is the caller's part: totp_match says which step a code belongs to, and a step at
// or before the last one used is refused (AccountCatalog::use_totp_step).
// Threads: any; pure functions (new_* read the OS random generator).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/time.hpp"

namespace parley::auth {

constexpr std::int64_t kTotpStepSeconds = 30;

std::string new_totp_secret();                      // 20 random bytes (160 bits, RFC 4226)
std::string base32_encode(std::string_view bytes);  // RFC 4648 §6, without padding
std::optional<std::string> base32_decode(std::string_view text);
// The code of `step` (Unix seconds / 30), `digits` long, zero-padded.
std::string totp_code(std::string_view secret, std::int64_t step, int digits = 6);
std::int64_t totp_step(TimeMs now);
// The step within ±window of now's whose code is `code`, or nullopt. Compares in constant time.
std::optional<std::int64_t> totp_match(std::string_view secret, std::string_view code, TimeMs now,
                                       int window = 1);
// otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30
std::string otpauth_uri(std::string_view issuer, std::string_view account,
                        std::string_view secret);
// `count` recovery codes, "xxxxx-xxxxx" of a lowercase alphabet without look-alikes.
std::vector<std::string> new_recovery_codes(int count = 10);

}  // namespace parley::auth
