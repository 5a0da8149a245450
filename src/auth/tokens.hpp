#pragma once
// Access and refresh tokens.
//
// Access tokens are JWTs signed with HMAC-SHA-256. The algorithm is pinned: a token whose header
// names any other algorithm ("none" included) is rejected before its signature is looked at.
// Claims: sub (user id), name (username), sid (login session id), iat, exp.
//
// Signing keys rotate (docs/security.md, "Key management"): given SigningKeys, tokens are signed
// with its current key and name it in the header's `kid`; a token is verified with the key its
// kid names, so tokens signed before a rotation stay valid until they expire. A token without a
// kid is verified with the fixed secret (--token-secret, DATA_DIR/token.key): tokens from before
// keys rotated, and the ones bench/loadgen signs itself.
//
// Refresh tokens are 256-bit random strings; the store keeps only their SHA-256.
// Thread-safety: TokenSigner is immutable after construction; call from any thread (SigningKeys
// must be thread-safe).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "chat/types.hpp"
#include "core/result.hpp"
#include "core/time.hpp"

namespace parley::auth {

struct AccessClaims {
  chat::UserId user_id = 0;
  std::string username;
  chat::SessionId session_id = 0;
  TimeMs expires_at = 0;  // whole seconds, in ms
};

// The rotating signing keys (app/ adapts the data keys of crypto/key_manager.hpp).
class SigningKeys {
 public:
  struct Key {
    std::string kid;     // printable ASCII, short
    std::string secret;  // at least 32 bytes
  };
  virtual ~SigningKeys() = default;
  // The key new tokens are signed with.
  virtual Key current() const = 0;
  // The secret of key `kid`; nullopt when there is none.
  virtual std::optional<std::string> find(std::string_view kid) const = 0;
};

class TokenSigner {
 public:
  // secret: at least 32 bytes. keys (optional, outliving the signer): sign with rotating keys.
  TokenSigner(std::string secret, std::chrono::seconds access_ttl, const Clock& clock,
              const SigningKeys* keys = nullptr);

  std::string issue(chat::UserId user_id, std::string_view username,
                    chat::SessionId session_id) const;
  // Errc::unauthenticated with a reason for malformed, forged, wrong-algorithm or expired tokens.
  Result<AccessClaims> verify(std::string_view token) const;

  std::chrono::seconds access_ttl() const { return access_ttl_; }

 private:
  static std::string sign(std::string_view secret, std::string_view signing_input);

  std::string secret_;
  const SigningKeys* keys_;
  std::chrono::seconds access_ttl_;
  const Clock& clock_;
};

std::string new_refresh_token();
std::string hash_refresh_token(std::string_view token);  // lowercase hex SHA-256

}  // namespace parley::auth
