#pragma once
// SHA-256 and HMAC-SHA-256 for the rest of Parley: file checksums (OpenSSL's SHA-256, which uses
// the CPU's SHA instructions: libsodium's portable one was a third of an upload's CPU), signed
// URLs (libsodium's HMAC).
// Threads: any; a Sha256 is used by one thread at a time.

#include <memory>
#include <string>
#include <string_view>

namespace parley::auth {

// A SHA-256 computed over pieces as they come.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view piece);
  // The lowercase hex digest of everything given; the hasher is spent after.
  std::string hex_digest();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// HMAC-SHA-256 of input under key, base64url without padding.
std::string hmac_sha256(std::string_view key, std::string_view input);

// Compares two strings in time that depends only on their lengths (signatures).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace parley::auth
