#pragma once
// Access and refresh tokens.
//
// Access tokens are JWTs signed with HMAC-SHA-256. The algorithm is pinned: a token whose header
// names any other algorithm ("none" included) is rejected before its signature is looked at.
// Claims: sub (user id), name (username), sid (login session id), iat, exp.
// Refresh tokens are 256-bit random strings; the store keeps only their SHA-256.
// Thread-safety: TokenSigner is immutable after construction; call from any thread.

#include <chrono>
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

class TokenSigner {
 public:
  // secret: at least 32 bytes.
  TokenSigner(std::string secret, std::chrono::seconds access_ttl, const Clock& clock);

  std::string issue(chat::UserId user_id, std::string_view username,
                    chat::SessionId session_id) const;
  // Errc::unauthenticated with a reason for malformed, forged, wrong-algorithm or expired tokens.
  Result<AccessClaims> verify(std::string_view token) const;

  std::chrono::seconds access_ttl() const { return access_ttl_; }

 private:
  std::string sign(std::string_view signing_input) const;

  std::string secret_;
  std::chrono::seconds access_ttl_;
  const Clock& clock_;
};

std::string new_refresh_token();
std::string hash_refresh_token(std::string_view token);  // lowercase hex SHA-256

}  // namespace parley::auth
