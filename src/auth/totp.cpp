#include "auth/totp.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

#include "auth/digest.hpp"
#include "core/url.hpp"

namespace parley::auth {

namespace {
constexpr char kBase32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
}  // namespace

std::string new_totp_secret() {
  std::string secret(20, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()), static_cast<int>(secret.size())) != 1) {
    throw std::runtime_error("no random bytes (RAND_bytes)");
  }
  return secret;
}

std::string base32_encode(std::string_view bytes) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const unsigned char c : bytes) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 5) {
      out += kBase32[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kBase32[(buffer << (5 - bits)) & 31];
  return out;
}

std::optional<std::string> base32_decode(std::string_view text) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const char c : text) {
    const char* at = std::char_traits<char>::find(kBase32, 32, c);
    if (!at) return std::nullopt;
    buffer = (buffer << 5) | static_cast<std::uint32_t>(at - kBase32);
    bits += 5;
    if (bits >= 8) {
      out += static_cast<char>((buffer >> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return out;
}

std::string totp_code(std::string_view secret, std::int64_t step, int digits) {
  unsigned char counter[8];
  for (int i = 7; i >= 0; --i) {
    counter[i] = static_cast<unsigned char>(step & 0xff);
    step >>= 8;
  }
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()), counter, sizeof counter,
            mac, &length) ||
      length < 20) {
    throw std::runtime_error("HMAC-SHA1 failed");
  }
  // Dynamic truncation (RFC 4226 §5.3).
  const int offset = mac[length - 1] & 0x0f;
  const std::uint32_t binary = ((mac[offset] & 0x7fu) << 24) | (mac[offset + 1] << 16) |
                               (mac[offset + 2] << 8) | mac[offset + 3];
  std::uint32_t modulo = 1;
  for (int i = 0; i < digits; ++i) modulo *= 10;
  std::string code = std::to_string(binary % modulo);
  return std::string(static_cast<std::size_t>(digits) - code.size(), '0') + code;
}

std::int64_t totp_step(TimeMs now) { return now / 1000 / kTotpStepSeconds; }

std::optional<std::int64_t> totp_match(std::string_view secret, std::string_view code, TimeMs now,
                                       int window) {
  if (code.size() != 6) return std::nullopt;
  const auto current = totp_step(now);
  std::optional<std::int64_t> matched;
  for (auto step = current - window; step <= current + window; ++step) {
    // Every candidate is computed and compared: the time taken says nothing about which matched.
    if (constant_time_equal(totp_code(secret, step), code) && !matched) matched = step;
  }
  return matched;
}

std::string otpauth_uri(std::string_view issuer, std::string_view account,
                        std::string_view secret) {
  return "otpauth://totp/" + percent_encode(issuer) + ":" + percent_encode(account) +
         "?secret=" + base32_encode(secret) + "&issuer=" + percent_encode(issuer) +
         "&algorithm=SHA1&digits=6&period=30";
}

std::vector<std::string> new_recovery_codes(int count) {
  static constexpr char kAlphabet[] = "abcdefghjkmnpqrstuvwxyz23456789";  // no l, 1, o, 0, i
  std::vector<std::string> out;
  for (int n = 0; n < count; ++n) {
    unsigned char random[10];
    if (RAND_bytes(random, sizeof random) != 1) throw std::runtime_error("no random bytes");
    std::string code;
    for (int i = 0; i < 10; ++i) {
      if (i == 5) code += '-';
      code += kAlphabet[random[i] % (sizeof kAlphabet - 1)];
    }
    out.push_back(std::move(code));
  }
  return out;
}

}  // namespace parley::auth
