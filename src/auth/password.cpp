#include "auth/password.hpp"

#include <sodium.h>

#include <stdexcept>

namespace parley::auth {
namespace {

constexpr unsigned long long kOpsLimit = 2;                  // t = 2
constexpr std::size_t kMemLimit = 19ULL * 1024 * 1024;       // m = 19 MiB

void ensure_sodium() {
  static const int rc = sodium_init();
  if (rc < 0) throw std::runtime_error("libsodium failed to initialise");
}

}  // namespace

Result<std::string> hash_password(std::string_view password) {
  ensure_sodium();
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), kOpsLimit, kMemLimit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return make_error(Errc::internal, "password hashing ran out of memory");
  }
  return std::string(out);
}

bool verify_password(std::string_view phc_hash, std::string_view password) {
  ensure_sodium();
  const std::string hash(phc_hash);  // needs NUL termination
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

void burn_verify_time(std::string_view password) {
  static const std::string dummy = [] {
    auto h = hash_password("parley-dummy-password");
    return h.ok() ? h.value() : std::string();
  }();
  (void)verify_password(dummy, password);
}

}  // namespace parley::auth
