#pragma once
// AccountCatalog: login sessions — one per sign-in on a device, holding the hash of its current
// refresh token — and what the account holder sees and ends of them (GET /auth/sessions,
// DELETE /auth/sessions/{id}, POST /auth/logout-all; docs/protocol.md, "Sessions and devices");
// and the external identities (OpenID Connect) that sign users in. Users themselves stay in
// Store (every chat operation resolves them).
//
// Every method is blocking and thread-safe: call it from the blocking pool, never from a network
// shard. Implemented by SqliteStore and PostgresStore beside Store (the same database); both pass
// the contract suite in tests/contract/account_catalog_contract.cpp.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/types.hpp"
#include "core/result.hpp"

namespace parley {

// A refresh-token login session, as rotate_refresh finds it.
struct LoginSession {
  chat::SessionId id = 0;
  chat::UserId user_id = 0;
  std::string username;
};

// A login session as its owner lists it.
struct LoginSessionInfo {
  chat::SessionId id = 0;
  std::string device;    // what the client called itself at login (REST: its User-Agent)
  std::string provider;  // how it signed in: "password", or an OpenID provider's name
  TimeMs created_at = 0;
  TimeMs last_used_at = 0;  // the login, then each refresh
};

// A person as an OpenID provider describes them, for the account their first sign-in creates.
struct ExternalProfile {
  std::string provider;  // the configured provider's name ("google")
  std::string subject;   // its `sub`
  std::string username_hint;  // preferred_username, else the email's local part
  std::string name;
  std::string email;  // stored only when the provider verified it and no other user has it
  std::string image;
};

// A user's TOTP second factor (auth/totp.hpp), as stored.
struct SecondFactor {
  std::string secret;  // as the service stored it (sealed under the data keys)
  bool confirmed = false;
  std::int64_t last_step = 0;  // the newest TOTP step used: no code of it or before works
};

class AccountCatalog {
 public:
  virtual ~AccountCatalog() = default;

  // A new login session of user with the hash of its first refresh token.
  virtual Result<chat::SessionId> create_session(chat::UserId user, std::string_view device,
                                                 std::string_view provider,
                                                 std::string_view refresh_hash, TimeMs now) = 0;
  // Replaces the refresh hash of the live session that holds old_hash and was last used at or
  // after min_last_used (Errc::not_found when none does: unknown, revoked, expired, or already
  // rotated — a replayed refresh token never works twice).
  virtual Result<LoginSession> rotate_refresh(std::string_view old_hash,
                                              std::string_view new_hash, TimeMs now,
                                              TimeMs min_last_used) = 0;
  // Revokes session `id` if it belongs to `user` and is live (Errc::not_found otherwise, so
  // nobody learns whether another user's session id exists).
  virtual Status revoke_session(chat::UserId user, chat::SessionId id, TimeMs now) = 0;
  // Revokes every live session of `user`; returns their ids.
  virtual Result<std::vector<chat::SessionId>> revoke_all_sessions(chat::UserId user,
                                                                   TimeMs now) = 0;
  // The user's live sessions (not revoked, used at or after min_last_used), newest use first.
  virtual Result<std::vector<LoginSessionInfo>> sessions_of(chat::UserId user,
                                                            TimeMs min_last_used) = 0;
  // Sessions revoked at or after `since` (their access tokens must stay refused until expiry).
  virtual Result<std::vector<chat::SessionId>> sessions_revoked_since(TimeMs since) = 0;

  // External identities: (provider, subject) → the user it signs in, for good.
  virtual Result<std::optional<chat::UserId>> find_identity(std::string_view provider,
                                                            std::string_view subject) = 0;
  // A new user for the profile, with the identity linked, in one transaction: the username is
  // the hint made valid (letters, digits, '_', '-', '.'; 2–32), with a number appended when it is
  // taken; no password. An identity linked meanwhile by another node wins: its user is returned.
  virtual Result<chat::User> create_external_user(const ExternalProfile& profile, TimeMs now) = 0;
  // Links (provider, subject) to an existing user. Errc::conflict when it is linked already.
  virtual Status link_identity(chat::UserId user, std::string_view provider,
                               std::string_view subject, TimeMs now) = 0;
  // The user whose email is `email` (exactly), if any.
  virtual Result<std::optional<chat::UserId>> find_user_by_email(std::string_view email) = 0;

  // Second factors (docs/protocol.md §2, "A second factor").
  virtual Result<std::optional<SecondFactor>> second_factor(chat::UserId user) = 0;
  // A new, unconfirmed secret (replacing an unconfirmed one). Errc::conflict when the user has
  // a confirmed one.
  virtual Status begin_second_factor(chat::UserId user, std::string_view secret, TimeMs now) = 0;
  // Confirms the unconfirmed secret by its first code's step, with the recovery codes' hashes
  // (replacing any). Errc::not_found when there is none to confirm.
  virtual Status confirm_second_factor(chat::UserId user, std::int64_t step,
                                       const std::vector<std::string>& recovery_hashes) = 0;
  // Uses a TOTP step of the confirmed secret: true when it is after the last used one (which it
  // becomes, atomically: two logins with one code, one wins).
  virtual Result<bool> use_totp_step(chat::UserId user, std::int64_t step) = 0;
  // Uses a recovery code by its hash: true when it was there and unused.
  virtual Result<bool> use_recovery_code(chat::UserId user, std::string_view hash,
                                         TimeMs now) = 0;
  // Removes the second factor and its recovery codes.
  virtual Status remove_second_factor(chat::UserId user) = 0;
};

}  // namespace parley
