#pragma once
// Password hashing with argon2id (libsodium), OWASP parameters: m = 19 MiB, t = 2, p = 1.
// Each call costs tens of milliseconds and 19 MiB by design: call from the blocking pool,
// never from a network shard. Thread-safe.

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace parley::auth {

// The PHC string ($argon2id$v=19$m=19456,t=2,p=1$…), salt included.
Result<std::string> hash_password(std::string_view password);
bool verify_password(std::string_view phc_hash, std::string_view password);
// Spends the time a verification would, for logins of unknown users (no timing oracle).
void burn_verify_time(std::string_view password);

}  // namespace parley::auth
