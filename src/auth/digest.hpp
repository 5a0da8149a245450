#pragma once
// SHA-256 and HMAC-SHA-256 (libsodium) for the rest of Parley: file checksums, signed URLs.
// Threads: any; a Sha256 is used by one thread at a time.

#include <sodium.h>

#include <string>
#include <string_view>

namespace parley::auth {

// A SHA-256 computed over pieces as they come.
class Sha256 {
 public:
  Sha256();
  void update(std::string_view piece);
  // The lowercase hex digest of everything given; the hasher is spent after.
  std::string hex_digest();

 private:
  crypto_hash_sha256_state state_;
};

// HMAC-SHA-256 of input under key, base64url without padding.
std::string hmac_sha256(std::string_view key, std::string_view input);

// Compares two strings in time that depends only on their lengths (signatures).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace parley::auth
