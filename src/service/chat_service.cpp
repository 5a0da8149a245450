#include "service/chat_service.hpp"

#include <algorithm>

#include <boost/json.hpp>

#include "auth/digest.hpp"
#include "auth/password.hpp"
#include "auth/signed_json.hpp"
#include "auth/totp.hpp"
#include "core/logging.hpp"
#include "core/utf8.hpp"
#include "crypto/keyring.hpp"
#include "crypto/text_cipher.hpp"
#include "service/e2ee.hpp"

namespace parley {

using namespace chat;
namespace json = boost::json;

namespace {

Error not_found(std::string what) { return make_error(Errc::not_found, std::move(what)); }

bool is_conversation_id(std::string_view id) { return is_uuid(id); }

}  // namespace

ChatService::ChatService(Store& store, AccountCatalog& accounts, MessageLog& log, Bus& bus,
                         Presence& presence, const Clock& clock, IdGenerator& ids,
                         const auth::TokenSigner& tokens, ServiceOptions options,
                         const crypto::MessageSealer* sealer)
    : store_(store),
      accounts_(accounts),
      log_(log),
      bus_(bus),
      presence_(presence),
      clock_(clock),
      ids_(ids),
      tokens_(tokens),
      options_(options),
      sealer_(sealer),
      members_(store, options.membership_cache_entries),
      directory_(options.membership_cache_entries) {
  log_.subscribe("fan-out", MessageLog::Blocking::forbidden,
                 [this](const Message& m) { publish_sequenced(m); });
}

// ---- accounts ----------------------------------------------------------------------------------

Result<User> ChatService::register_user(std::string_view username, std::string_view password) {
  if (auto s = validate_username(username); !s) return s.error();
  if (auto s = validate_password(password); !s) return s.error();
  auto hash = auth::hash_password(password);
  if (!hash) return hash.error();
  return store_.create_user(username, *hash, clock_.now_ms());
}

Result<LoginResult> ChatService::issue_tokens(const User& user, SessionId session,
                                              std::string refresh_token) {
  LoginResult out;
  out.access_token = tokens_.issue(user.id, user.username, session);
  out.refresh_token = std::move(refresh_token);
  out.expires_in = tokens_.access_ttl().count();
  out.user = user;
  return out;
}

Result<LoginResult> ChatService::login(std::string_view username, std::string_view password,
                                       std::string_view device) {
  const auto bad = make_error(Errc::unauthenticated, "invalid username or password");
  auto creds = store_.find_credentials(username);
  if (!creds) {
    if (creds.error().code != Errc::not_found) return creds.error();
    auth::burn_verify_time(password);  // same cost as a real check: no user-enumeration oracle
    return bad;
  }
  if (creds->password_hash.empty() || !auth::verify_password(creds->password_hash, password)) {
    return bad;
  }
  auto factor = accounts_.second_factor(creds->user.id);
  if (!factor) return factor.error();
  if (*factor && (*factor)->confirmed) {
    // The password was right; the code comes next, with this challenge (no password again).
    const json::object claims{{"u", creds->user.id},
                              {"d", std::string(truncate_utf8(device, 200))},
                              {"e", clock_.now_ms() + options_.challenge_ttl.count() * 1000}};
    Error e = make_error(Errc::mfa_required,
                         "a second factor is required: POST /auth/login/mfa {challenge, code}");
    e.details.emplace_back("challenge", auth::sign_json(options_.challenge_key, claims));
    return e;
  }
  return sign_in(creds->user, device, "password");
}

// ---- a second factor ----------------------------------------------------------------------------

std::optional<ChatService::Challenge> ChatService::open_challenge(
    std::string_view challenge) const {
  const auto claims = auth::open_signed_json(options_.challenge_key, challenge, 1024);
  if (!claims) return std::nullopt;
  const auto* user = claims->if_contains("u");
  const auto* device = claims->if_contains("d");
  const auto* expires = claims->if_contains("e");
  if (!user || !user->is_int64() || !expires || !expires->is_int64() ||
      expires->get_int64() < clock_.now_ms()) {
    return std::nullopt;
  }
  return Challenge{user->get_int64(), device && device->is_string()
                                          ? std::string(device->get_string())
                                          : std::string()};
}

std::optional<UserId> ChatService::challenge_user(std::string_view challenge) const {
  auto opened = open_challenge(challenge);
  if (!opened) return std::nullopt;
  return opened->user;
}

// The TOTP secret under the data keys, with a context of its own (not the encryption service's:
// POST /decrypt must never open it), bound to the user.
std::string ChatService::seal_secret(UserId user, std::string_view secret) const {
  const auto text = auth::base32_encode(secret);
  if (!sealer_ || sealer_->keys().empty()) return text;
  return sealer_->keys().seal(text, "parley totp|u" + std::to_string(user));
}

Result<std::string> ChatService::open_secret(UserId user, std::string_view stored) const {
  std::string text(stored);
  if (crypto::Keyring::key_of(stored)) {  // sealed (plain base32 is never shaped like it)
    if (!sealer_) return make_error(Errc::internal, "a sealed TOTP secret and no data keys");
    auto opened = sealer_->keys().open(stored, "parley totp|u" + std::to_string(user));
    if (!opened) return make_error(Errc::internal, "the TOTP secret does not open");
    text = std::move(*opened);
  }
  auto secret = auth::base32_decode(text);
  if (!secret) return make_error(Errc::internal, "the stored TOTP secret is damaged");
  return *secret;
}

// Recovery codes are kept as HMACs under a server key: a dump of the database alone does not
// let anyone try the ~2^49 codes offline.
std::string ChatService::recovery_hash(std::string_view code) const {
  return auth::hmac_sha256(options_.challenge_key, "parley recovery code|" + std::string(code));
}

Status ChatService::check_second_factor(UserId user, std::string_view code, bool allow_recovery) {
  const auto wrong = make_error(Errc::unauthenticated, "wrong or already used code");
  auto factor = accounts_.second_factor(user);
  if (!factor) return factor.error();
  if (!*factor || !(*factor)->confirmed) {
    return make_error(Errc::not_found, "no second factor is on");
  }
  auto secret = open_secret(user, (*factor)->secret);
  if (!secret) return secret.error();
  if (auto step = auth::totp_match(*secret, code, clock_.now_ms())) {
    auto used = accounts_.use_totp_step(user, *step);
    if (!used) return used.error();
    return *used ? ok_status() : Status(wrong);  // that code (or a later one) was used already
  }
  if (allow_recovery && code.size() == 11) {
    auto used = accounts_.use_recovery_code(user, recovery_hash(code), clock_.now_ms());
    if (!used) return used.error();
    if (*used) {
      log::info("event=recovery_code_used user={}", user);
      return ok_status();
    }
  }
  return wrong;
}

Result<LoginResult> ChatService::login_second_factor(std::string_view challenge,
                                                     std::string_view code,
                                                     std::string_view device) {
  const auto opened = open_challenge(challenge);
  if (!opened) {
    return make_error(Errc::unauthenticated, "the challenge is unknown or expired: log in again");
  }
  if (auto s = check_second_factor(opened->user, code, true); !s) return s.error();
  auto user = store_.get_user(opened->user);
  if (!user) return user.error();
  // The device the password login named, from the signed challenge.
  return sign_in(*user, opened->device.empty() ? device : opened->device, "password");
}

Result<TotpEnrollment> ChatService::begin_totp(const Caller& caller, std::string_view password) {
  // The password again: a stolen access token alone must not put a second factor (and with it,
  // a lockout) on the account. Accounts of an OpenID provider have none: their provider's own
  // second factor guards them.
  auto creds = store_.find_credentials(caller.username);
  if (!creds) return creds.error();
  if (creds->password_hash.empty()) {
    return make_error(Errc::forbidden, "this account signs in with an OpenID provider: use its "
                                       "second factor");
  }
  if (!auth::verify_password(creds->password_hash, password)) {
    return make_error(Errc::unauthenticated, "wrong password");
  }
  const auto secret = auth::new_totp_secret();
  if (auto s = accounts_.begin_second_factor(caller.user_id, seal_secret(caller.user_id, secret),
                                             clock_.now_ms());
      !s) {
    return s.error();
  }
  return TotpEnrollment{auth::base32_encode(secret),
                        auth::otpauth_uri("Parley", caller.username, secret)};
}

Result<std::vector<std::string>> ChatService::confirm_totp(const Caller& caller,
                                                           std::string_view code) {
  auto factor = accounts_.second_factor(caller.user_id);
  if (!factor) return factor.error();
  if (!*factor || (*factor)->confirmed) {
    return make_error(Errc::conflict, (*factor) ? "the second factor is on already"
                                                : "start with POST /auth/mfa/totp");
  }
  auto secret = open_secret(caller.user_id, (*factor)->secret);
  if (!secret) return secret.error();
  const auto step = auth::totp_match(*secret, code, clock_.now_ms());
  if (!step) return make_error(Errc::unauthenticated, "wrong code: check the app's clock");
  auto codes = auth::new_recovery_codes();
  std::vector<std::string> hashes;
  for (const auto& c : codes) hashes.push_back(recovery_hash(c));
  if (auto s = accounts_.confirm_second_factor(caller.user_id, *step, hashes); !s) return s.error();
  log::info("event=second_factor_on user={}", caller.user_id);
  return codes;
}

Status ChatService::disable_totp(const Caller& caller, std::string_view code) {
  if (auto s = check_second_factor(caller.user_id, code, true); !s) return s;
  log::info("event=second_factor_off user={}", caller.user_id);
  return accounts_.remove_second_factor(caller.user_id);
}

Result<LoginResult> ChatService::sign_in(const User& user, std::string_view device,
                                         std::string_view provider) {
  auto refresh_token = auth::new_refresh_token();
  auto session = accounts_.create_session(user.id, truncate_utf8(device, 200), provider,
                                          auth::hash_refresh_token(refresh_token), clock_.now_ms());
  if (!session) return session.error();
  return issue_tokens(user, *session, std::move(refresh_token));
}

Result<LoginResult> ChatService::refresh(std::string_view refresh_token) {
  if (refresh_token.empty()) return make_error(Errc::bad_request, "refresh_token is required");
  const auto now = clock_.now_ms();
  auto next = auth::new_refresh_token();
  auto session = accounts_.rotate_refresh(auth::hash_refresh_token(refresh_token),
                                       auth::hash_refresh_token(next), now,
                                       now - options_.refresh_ttl.count() * 1000);
  if (!session) {
    if (session.error().code == Errc::not_found) {
      return make_error(Errc::unauthenticated, "refresh token is unknown, expired or revoked");
    }
    return session.error();
  }
  auto user = store_.get_user(session->user_id);
  if (!user) return user.error();
  return issue_tokens(*user, session->id, std::move(next));
}

Status ChatService::logout(const Caller& caller) {
  if (auto s = accounts_.revoke_session(caller.user_id, caller.session_id, clock_.now_ms());
      !s && s.error().code != Errc::not_found) {  // not_found: over already
    return s;
  }
  end_sessions(caller.user_id, {caller.session_id});
  return ok_status();
}

Result<std::vector<LoginSessionInfo>> ChatService::sessions(const Caller& caller) {
  return accounts_.sessions_of(caller.user_id,
                               clock_.now_ms() - options_.refresh_ttl.count() * 1000);
}

Status ChatService::revoke_session(const Caller& caller, SessionId session) {
  if (auto s = accounts_.revoke_session(caller.user_id, session, clock_.now_ms()); !s) return s;
  end_sessions(caller.user_id, {session});
  return ok_status();
}

Result<std::size_t> ChatService::logout_all(const Caller& caller) {
  auto ended = accounts_.revoke_all_sessions(caller.user_id, clock_.now_ms());
  if (!ended) return ended.error();
  // The caller's own session too, even if the store saw it over already.
  if (std::find(ended->begin(), ended->end(), caller.session_id) == ended->end()) {
    ended->push_back(caller.session_id);
  }
  end_sessions(caller.user_id, *ended);
  return ended->size();
}

void ChatService::end_sessions(UserId user, const std::vector<SessionId>& sessions) {
  const auto now = clock_.now_ms();
  {
    std::lock_guard lock(revoked_mutex_);
    // Forget revocations whose access tokens have expired anyway; keeps the map small.
    const auto horizon = now - tokens_.access_ttl().count() * 1000;
    std::erase_if(revoked_, [&](const auto& entry) { return entry.second < horizon; });
    for (const auto id : sessions) revoked_[id] = now;
  }
  // Connections already open with these sessions' tokens close too, on every node.
  for (const auto id : sessions) {
    auto env = std::make_shared<Envelope>();
    env->recipients = {user};
    env->event = SessionRevokedEvent{id};
    bus_.publish(std::move(env));
  }
}

void ChatService::apply_relayed(const Envelope& envelope) {
  const auto* relayed = std::get_if<RelayedEvent>(&envelope.event);
  if (!relayed) return;
  if (relayed->membership_changed && !envelope.conv.empty()) members_.invalidate(envelope.conv);
  if (relayed->revoked_session != 0) {
    std::lock_guard lock(revoked_mutex_);
    revoked_[relayed->revoked_session] = clock_.now_ms();
  }
}

Status ChatService::load_revocations() {
  const auto now = clock_.now_ms();
  auto ids = accounts_.sessions_revoked_since(now - tokens_.access_ttl().count() * 1000);
  if (!ids) return ids.error();
  std::lock_guard lock(revoked_mutex_);
  for (auto id : *ids) revoked_[id] = now;
  return ok_status();
}

Result<Caller> ChatService::authenticate(std::string_view access_token) const {
  auto claims = tokens_.verify(access_token);
  if (!claims) return claims.error();
  {
    std::lock_guard lock(revoked_mutex_);
    if (revoked_.contains(claims->session_id)) {
      return make_error(Errc::unauthenticated, "session has been logged out");
    }
  }
  return Caller{claims->user_id, claims->username, claims->session_id, claims->expires_at};
}

Result<User> ChatService::me(const Caller& caller) { return store_.get_user(caller.user_id); }

// ---- the encryption service ---------------------------------------------------------------------

Result<EncryptedText> ChatService::encrypt_text(const Caller& caller, std::string_view text,
                                                const std::optional<ConvId>& conv) {
  if (auto s = validate_body(text, options_.limits); !s) return s.error();
  if (!sealer_ || sealer_->keys().empty()) {
    return make_error(Errc::unavailable, "this node has no data keys to encrypt with");
  }
  crypto::TextBinding binding;
  binding.user = caller.user_id;
  if (conv) {
    if (auto role = require_member(caller, *conv); !role) return role.error();
    binding.kind = crypto::TextBinding::Kind::conv;
    binding.conv = *conv;
  }
  EncryptedText out;
  out.ciphertext = crypto::TextCipher(sealer_->keys()).seal(binding, text);
  out.key_id = crypto::TextCipher::key_of(out.ciphertext);
  return out;
}

Result<std::string> ChatService::decrypt_text(const Caller& caller, std::string_view ciphertext) {
  if (ciphertext.size() > crypto::TextCipher::max_sealed_size(options_.limits.max_body_bytes)) {
    return make_error(Errc::too_large, "encryptedMessage is longer than anything /encrypt makes");
  }
  auto binding = crypto::TextCipher::binding_of(ciphertext);
  if (!binding) return binding.error();
  if (binding->kind == crypto::TextBinding::Kind::user) {
    if (binding->user != caller.user_id) {
      return make_error(Errc::forbidden, "this ciphertext is bound to another user");
    }
  } else if (auto role = require_member(caller, binding->conv); !role) {
    // A conversation that does not exist was not one this server sealed for.
    if (role.error().code == Errc::not_found) {
      return make_error(Errc::bad_ciphertext, "encryptedMessage names no conversation of this server");
    }
    return role.error();
  }
  if (!sealer_) return make_error(Errc::unavailable, "this node has no data keys to decrypt with");
  return crypto::TextCipher(sealer_->keys()).open(ciphertext);
}

// ---- conversations and membership -------------------------------------------------------------

Result<Role> ChatService::require_member(const Caller& caller, const ConvId& conv) {
  if (!is_conversation_id(conv)) return not_found("no such conversation");
  auto list = members_.get(conv);
  if (!list) return list.error();
  const auto* me = MembershipCache::find(**list, caller.user_id);
  if (!me) return make_error(Errc::not_member, "you are not a member of this conversation");
  return me->role;
}

Result<Conversation> ChatService::require_group(const ConvId& id) {
  if (!is_conversation_id(id)) return not_found("no such group");
  auto conv = store_.get_conversation(id);
  if (!conv) {
    if (conv.error().code == Errc::not_found) return not_found("no such group");
    return conv.error();
  }
  if (conv->kind != ConvKind::group) return not_found("no such group");
  return conv;
}

void ChatService::publish_membership(const ConvId& conv, std::string change, UserId member,
                                     std::string username, std::string by) {
  auto list = members_.get(conv);
  MemberList recipients = list ? **list : MemberList{};
  // A removed member hears about it too, so every one of its sessions drops the conversation.
  if (member && !MembershipCache::find(recipients, member)) {
    recipients.entries.push_back({member, Role::member});
  }
  publish(conv,
          ConversationEvent{conv, std::move(change), std::move(username), std::move(by), member},
          recipients);
}

Result<Conversation> ChatService::create_group(const Caller& caller, std::string_view name,
                                               const std::vector<std::string>& members,
                                               std::string_view passcode, bool e2ee) {
  if (auto s = validate_group_title(name, options_.limits); !s) return s.error();
  if (members.size() > options_.limits.max_group_members) {
    return make_error(Errc::too_large, "too many members");
  }
  if (!passcode.empty() && !is_valid_utf8(passcode)) {
    return make_error(Errc::invalid_utf8, "passcode is not UTF-8");
  }
  NewGroup g;
  g.id = ids_.uuid_v7(clock_.now_ms());
  g.title = std::string(name);
  g.creator_id = caller.user_id;
  g.now = clock_.now_ms();
  g.e2ee = e2ee;
  for (const auto& username : members) {
    auto id = resolve_user(username);
    if (!id) return id.error();
    if (*id != caller.user_id &&
        std::find(g.members.begin(), g.members.end(), *id) == g.members.end()) {
      g.members.push_back(*id);
    }
  }
  if (!passcode.empty()) {
    auto hash = auth::hash_password(passcode);
    if (!hash) return hash.error();
    g.passcode_hash = std::move(*hash);
  }
  auto conv = store_.create_group(g);
  if (!conv) return conv;
  publish_membership(conv->id, "created", 0, "", caller.username);
  return conv;
}

Result<DirectConversation> ChatService::open_direct(const Caller& caller, std::string_view peer,
                                                    bool e2ee) {
  auto peer_id = resolve_user(peer);
  if (!peer_id) return peer_id.error();
  if (*peer_id == caller.user_id) {
    return make_error(Errc::bad_request, "you cannot have a direct conversation with yourself");
  }
  const auto now = clock_.now_ms();
  const auto new_id = ids_.uuid_v7(now);
  auto conv = store_.get_or_create_direct(caller.user_id, *peer_id, new_id, now, e2ee);
  if (!conv) return conv.error();
  directory_.remember_direct(caller.user_id, *peer_id, conv->id);
  if (conv->e2ee != e2ee) {
    return make_error(Errc::conflict,
                      std::string("your direct conversation with ") + std::string(peer) + " is " +
                          (conv->e2ee ? "end-to-end encrypted" : "not end-to-end encrypted") +
                          ", and a pair of users has one");
  }
  const bool created = conv->id == new_id;
  if (created) publish_membership(conv->id, "created", 0, "", caller.username);
  return DirectConversation{std::move(*conv), std::string(peer), created};
}

Status ChatService::add_member(const Caller& caller, const ConvId& group,
                               std::string_view username) {
  auto conv = require_group(group);
  if (!conv) return conv.error();
  auto role = require_member(caller, group);
  if (!role) return role.error();
  if (!may_add_member(*role)) {
    return make_error(Errc::forbidden, "only the owner and admins may add members");
  }
  auto user_id = resolve_user(username);
  if (!user_id) return user_id.error();
  auto added = store_.add_member(group, *user_id, Role::member, clock_.now_ms());
  if (!added) return added;
  members_.invalidate(group);
  publish_membership(group, "added", *user_id, std::string(username), caller.username);
  return ok_status();
}

Status ChatService::remove_member(const Caller& caller, const ConvId& group,
                                  std::string_view username) {
  auto conv = require_group(group);
  if (!conv) return conv.error();
  auto role = require_member(caller, group);
  if (!role) return role.error();
  auto user_id = resolve_user(username);
  if (!user_id) return user_id.error();
  auto list = members_.get(group);
  if (!list) return list.error();
  const auto* target = MembershipCache::find(**list, *user_id);
  if (!target) return not_found("that user is not a member");
  if (!may_remove_member(caller.user_id, *role, *user_id, target->role)) {
    return make_error(Errc::forbidden, "you may not remove this member");
  }
  auto removed = store_.remove_member(group, *user_id, clock_.now_ms());
  if (!removed) return removed;
  members_.invalidate(group);
  publish_membership(group, "removed", *user_id, std::string(username), caller.username);
  return ok_status();
}

Result<Conversation> ChatService::join_group(const Caller& caller, const ConvId& group,
                                             std::string_view passcode) {
  auto conv = require_group(group);
  if (!conv) return conv;
  auto list = members_.get(group);
  if (!list) return list.error();
  if (MembershipCache::find(**list, caller.user_id)) return conv;  // already in: nothing to do
  if (conv->passcode_hash.empty()) {
    return make_error(Errc::forbidden, "this group can only be joined by invitation");
  }
  if (passcode.empty() || !auth::verify_password(conv->passcode_hash, passcode)) {
    return make_error(Errc::forbidden, "wrong passcode");
  }
  auto added = store_.add_member(group, caller.user_id, Role::member, clock_.now_ms());
  if (!added && added.error().code != Errc::conflict) return added.error();
  members_.invalidate(group);
  publish_membership(group, "added", caller.user_id, caller.username, caller.username);
  return conv;
}

Result<GroupInfo> ChatService::group_info(const Caller& caller, const ConvId& group) {
  auto conv = require_group(group);
  if (!conv) return conv.error();
  if (auto role = require_member(caller, group); !role) return role.error();
  auto members = store_.members(group);
  if (!members) return members.error();
  return GroupInfo{std::move(*conv), std::move(*members)};
}

Result<std::vector<ConversationSummary>> ChatService::conversations(const Caller& caller) {
  auto conversations = store_.conversations_of(caller.user_id);
  if (!conversations) return conversations;
  for (auto& c : *conversations) {
    if (!c.last_message) continue;
    if (auto s = open(*c.last_message); !s) return s.error();
  }
  return conversations;
}

Result<SyncState> ChatService::sync(const Caller& caller) {
  auto conversations = this->conversations(caller);
  if (!conversations) return conversations.error();
  auto left = store_.departures_of(caller.user_id);
  if (!left) return left.error();
  return SyncState{std::move(*conversations), std::move(*left)};
}

// ---- receipts, edits, typing -------------------------------------------------------------------

void ChatService::publish(const ConvId& conv, Event event, const MemberList& members,
                          UserId except) {
  auto env = std::make_shared<Envelope>();
  env->conv = conv;
  env->group = members.kind == ConvKind::group;
  env->recipients.reserve(members.entries.size());
  for (const auto& m : members.entries) {
    if (m.user_id != except) env->recipients.push_back(m.user_id);
  }
  env->event = std::move(event);
  bus_.publish(std::move(env));
}

Result<Cursors> ChatService::mark(const Caller& caller, const ConvId& conv, Seq delivered,
                                  Seq read) {
  if (delivered < 0 || read < 0) return make_error(Errc::bad_request, "seq must be >= 0");
  if (auto role = require_member(caller, conv); !role) return role.error();
  auto moved = store_.advance_cursors(conv, caller.user_id, delivered, read);
  if (!moved) {
    if (moved.error().code == Errc::not_found) {
      return make_error(Errc::not_member, "you are not a member of this conversation");
    }
    return moved.error();
  }
  const auto [cursors, changed] = *moved;
  if (changed) {
    if (auto list = members_.get(conv)) {
      publish(conv, ReceiptEvent{conv, caller.username, cursors.delivered_seq, cursors.read_seq},
              **list);
    }
  }
  return cursors;
}

Result<Message> ChatService::change_message(const Caller& caller, const ConvId& conv, Seq seq,
                                            std::optional<std::string> body) {
  if (seq < 1) return make_error(Errc::bad_request, "seq must be >= 1");
  if (auto role = require_member(caller, conv); !role) return role.error();
  if (body) {
    auto list = members_.get(conv);
    if (!list) return list.error();
    if (auto s = check_body(*body, (*list)->e2ee, false); !s) return s.error();
  }
  if (body && sealer_ && sealer_->seals_new()) {
    // The new body is sealed against the message's id, which only the store knows.
    HistoryQuery q;
    q.after = seq - 1;
    q.before = seq + 1;
    q.limit = 1;
    auto page = store_.history(conv, q);
    if (!page) return page.error();
    if (page->messages.empty()) return not_found("no such message");
    body = sealer_->seal_body(conv, page->messages.front().id, *body);
  }
  auto changed = store_.change_message(conv, seq, caller.user_id, std::move(body), clock_.now_ms());
  if (!changed) return changed;
  if (auto s = open(*changed); !s) return s.error();
  if (auto list = members_.get(conv)) publish(conv, MessageUpdatedEvent{*changed}, **list);
  return changed;
}

Result<HistoryPage> ChatService::changes(const Caller& caller, const ConvId& conv,
                                         std::int64_t after_rev,
                                         std::optional<std::int64_t> limit) {
  if (after_rev < 0) return make_error(Errc::bad_request, "changed_after must be >= 0");
  if (auto role = require_member(caller, conv); !role) return role.error();
  return opened(store_.changes(conv, after_rev, clamp_page_limit(limit, options_.limits)));
}

Status ChatService::typing(const Caller& caller, const ConvId& conv) {
  if (auto role = require_member(caller, conv); !role) return role.error();
  auto list = members_.get(conv);
  if (!list) return list.error();
  publish(conv, TypingEvent{conv, caller.username}, **list, caller.user_id);
  return ok_status();
}

// ---- presence ----------------------------------------------------------------------------------

bool ChatService::presence_opened(const Caller& caller) {
  return tracker_.session_opened(caller.user_id);
}

bool ChatService::presence_closed(const Caller& caller) {
  return tracker_.session_closed(caller.user_id, clock_.now_ms());
}

void ChatService::arrive(const Caller& caller) {
  const bool first_node = presence_.arrived(caller.user_id);
  log::info("event=presence_changed user={} online=true announced={}", caller.user_id, first_node);
  if (first_node) announce_presence(caller, true, std::nullopt);
}

void ChatService::settle_presence(const Caller& caller) {
  const auto last_seen = tracker_.settle(caller.user_id);
  if (!last_seen) return;  // came back within the grace period
  const bool last_node = presence_.left(caller.user_id, *last_seen);
  log::info("event=presence_changed user={} online=false announced={}", caller.user_id, last_node);
  if (last_node) announce_presence(caller, false, last_seen);
}

void ChatService::presence_heartbeat() {
  const auto abandoned = presence_.heartbeat(tracker_.users_here());
  if (abandoned.empty()) return;
  std::vector<std::pair<UserId, TimeMs>> seen;
  for (const auto& gone : abandoned) {
    auto user = store_.get_user(gone.user);
    if (!user) continue;  // deleted meanwhile, or the store is down: nobody to tell or to tell it
    log::info("event=presence_changed user={} online=false announced=true node_died=true",
              gone.user);
    announce_presence(Caller{gone.user, user->username, 0}, false, gone.last_seen);
    seen.emplace_back(gone.user, gone.last_seen);
  }
  // Their node died before it could write their last-seen times: the next flush writes them.
  tracker_.restore_pending(seen);
}

void ChatService::announce_presence(const Caller& caller, bool online,
                                    std::optional<TimeMs> last_seen) {
  auto contacts = store_.contacts_of(caller.user_id);
  if (!contacts || contacts->empty()) return;  // nobody to tell (a store error: nothing to do)
  auto env = std::make_shared<Envelope>();
  env->recipients = std::move(*contacts);
  env->event = PresenceEvent{caller.username, online, last_seen};
  bus_.publish(std::move(env));
}

Result<PresenceInfo> ChatService::presence_of(const Caller& caller, std::string_view username) {
  auto user = store_.find_user(username);
  if (!user) {
    if (user.error().code == Errc::not_found) return not_found("no such user");
    return user.error();
  }
  if (user->id != caller.user_id) {
    auto contacts = store_.contacts_of(caller.user_id);
    if (!contacts) return contacts.error();
    if (std::find(contacts->begin(), contacts->end(), user->id) == contacts->end()) {
      return make_error(Errc::forbidden, "you share no conversation with this user");
    }
  }
  const auto elsewhere = presence_.elsewhere(user->id);
  PresenceInfo info;
  info.username = user->username;
  info.online = tracker_.online(user->id) || elsewhere.online;
  // The latest of: this node's unflushed time, another node's, the store's.
  for (const auto& seen : {tracker_.pending_last_seen(user->id), elsewhere.last_seen,
                           user->last_seen_at}) {
    if (seen && (!info.last_seen || *seen > *info.last_seen)) info.last_seen = seen;
  }
  return info;
}

bool ChatService::online(UserId user) {
  return tracker_.online(user) || presence_.elsewhere(user).online;
}

Status ChatService::flush_last_seen() {
  auto pending = tracker_.take_pending();
  auto status = store_.record_last_seen(pending);
  if (!status) tracker_.restore_pending(pending);  // try again at the next flush
  return status;
}

Status ChatService::check_history_request(const HistoryRequest& r) {
  if ((r.before && *r.before < 1) || (r.after && *r.after < 0)) {
    return make_error(Errc::bad_request, "before must be >= 1 and after >= 0");
  }
  return ok_status();
}

Result<HistoryPage> ChatService::read_history(const ConvId& conv, const HistoryRequest& r) {
  if (auto s = check_history_request(r); !s) return s.error();
  HistoryQuery q;
  q.before = r.before;
  q.after = r.after;
  q.limit = clamp_page_limit(r.limit, options_.limits);
  return opened(store_.history(conv, q));
}

Status ChatService::attach_receipts(const ConvId& conv, HistoryPage& page) {
  auto members = store_.members(conv);
  if (!members) return members.error();
  page.receipts = std::move(*members);
  return ok_status();
}

Result<HistoryPage> ChatService::history(const Caller& caller, const ConvId& conv,
                                         const HistoryRequest& request) {
  if (auto role = require_member(caller, conv); !role) return role.error();
  auto page = read_history(conv, request);
  if (!page) return page;
  if (auto s = attach_receipts(conv, *page); !s) return s.error();
  return page;
}

Result<HistoryPage> ChatService::group_history(const Caller& caller, const ConvId& group,
                                               const HistoryRequest& request) {
  if (auto conv = require_group(group); !conv) return conv.error();
  return history(caller, group, request);
}

Result<HistoryPage> ChatService::direct_history(const Caller& caller, std::string_view peer,
                                                const HistoryRequest& request) {
  auto peer_id = resolve_user(peer);
  if (!peer_id) return peer_id.error();
  auto conv = store_.find_direct(caller.user_id, *peer_id);
  if (!conv) return conv.error();
  if (!*conv) {  // no message exchanged yet: an empty page, after the same input checks
    if (auto s = check_history_request(request); !s) return s.error();
    return HistoryPage{};
  }
  auto page = read_history(**conv, request);
  if (!page) return page;
  if (auto s = attach_receipts(**conv, *page); !s) return s.error();
  return page;
}

// ---- sending -----------------------------------------------------------------------------------

Status ChatService::check_body(std::string_view body, bool e2ee, bool has_attachments) const {
  if (body.empty() && has_attachments) return ok_status();
  if (e2ee) return e2ee::check_envelope(body, options_.limits.max_envelope_bytes);
  return validate_body(body, options_.limits);
}

Status ChatService::check_send(const SendRequest& r) const {
  // The body is checked once the conversation is known (check_body): what a body may be depends
  // on whether the conversation is end-to-end encrypted.
  if (auto s = validate_client_msg_id(r.client_msg_id, options_.limits); !s) return s;
  // Past both limits it is too large whatever the conversation: refused before any lookup.
  if (const auto most = std::max(options_.limits.max_body_bytes, options_.limits.max_envelope_bytes);
      r.body.size() > most) {
    return make_error(Errc::too_large, "message body is longer than " + std::to_string(most) + " bytes");
  }
  if (r.reply_to && *r.reply_to < 1) return make_error(Errc::bad_request, "reply_to must be >= 1");
  if (r.conv.has_value() == r.to.has_value()) {
    return make_error(Errc::bad_request, "give exactly one of conv and to");
  }
  return ok_status();
}

Result<UserId> ChatService::resolve_user(std::string_view username) {
  if (auto id = directory_.user_id(username)) return *id;
  auto user = store_.find_user(username);
  if (!user) {
    if (user.error().code == Errc::not_found) return not_found("no such user: " + std::string(username));
    return user.error();
  }
  directory_.remember_user(user->username, user->id);
  return user->id;
}

std::optional<Result<NewMessage>> ChatService::try_prepare_send(const Caller& caller,
                                                                SendRequest& r, bool group_only) {
  if (auto s = check_send(r); !s) return Result<NewMessage>(s.error());
  // reply_to needs the conversation's last_seq, and group-only routes its kind: the store.
  // Attachments need the file catalog: api::prepare_send.
  if (r.reply_to || group_only || !r.attachments.empty()) return std::nullopt;
  NewMessage m;
  if (r.to) {
    auto peer = directory_.user_id(*r.to);
    if (!peer) return std::nullopt;
    if (*peer == caller.user_id) {
      return Result<NewMessage>(
          make_error(Errc::bad_request, "you cannot send a direct message to yourself"));
    }
    auto conv = directory_.direct(caller.user_id, *peer);
    if (!conv) return std::nullopt;
    m.conv = std::move(*conv);
  } else {
    m.conv = *r.conv;
  }
  auto list = members_.peek(m.conv);
  if (!list) return std::nullopt;
  if (!MembershipCache::find(*list, caller.user_id)) {
    return Result<NewMessage>(
        make_error(Errc::not_member, "you are not a member of this conversation"));
  }
  if (auto s = check_body(r.body, list->e2ee, false); !s) return Result<NewMessage>(s.error());
  m.sender_id = caller.user_id;
  m.from = caller.username;
  m.client_msg_id = std::move(r.client_msg_id);
  m.body = std::move(r.body);
  return Result<NewMessage>(std::move(m));
}

Result<NewMessage> ChatService::prepare_send(const Caller& caller, SendRequest r,
                                             bool group_only) {
  if (auto s = check_send(r); !s) return s.error();
  const bool has_attachments = !r.attachments.empty();
  NewMessage m;
  m.sender_id = caller.user_id;
  m.from = caller.username;
  m.client_msg_id = std::move(r.client_msg_id);
  m.body = std::move(r.body);
  m.reply_to = r.reply_to;
  if (r.to) {
    auto peer = resolve_user(*r.to);
    if (!peer) return peer.error();
    if (*peer == caller.user_id) {
      return make_error(Errc::bad_request, "you cannot send a direct message to yourself");
    }
    if (auto known = directory_.direct(caller.user_id, *peer)) {
      m.conv = std::move(*known);
    } else {
      // Validate reply_to before a first message creates the conversation: a refused send
      // must change nothing.
      auto existing = store_.find_direct(caller.user_id, *peer);
      if (!existing) return existing.error();
      if (!*existing && m.reply_to) {
        return make_error(Errc::bad_request, "reply_to names a message that does not exist");
      }
      // A first message creates a plaintext conversation (POST /conversations/direct makes an
      // encrypted one).
      if (!*existing) {
        if (auto s = check_body(m.body, false, has_attachments); !s) return s.error();
      }
      const auto now = clock_.now_ms();
      auto conv = store_.get_or_create_direct(caller.user_id, *peer, ids_.uuid_v7(now), now, false);
      if (!conv) return conv.error();
      directory_.remember_direct(caller.user_id, *peer, conv->id);
      m.conv = conv->id;
    }
  } else {
    if (group_only) {
      if (auto g = require_group(*r.conv); !g) return g.error();
    }
    if (auto role = require_member(caller, *r.conv); !role) return role.error();
    m.conv = std::move(*r.conv);
  }
  auto list = members_.get(m.conv);
  if (!list) return list.error();
  if (auto s = check_body(m.body, (*list)->e2ee, has_attachments); !s) return s.error();
  if (m.reply_to) {
    auto conv = store_.get_conversation(m.conv);
    if (!conv) return conv.error();
    if (*m.reply_to > conv->last_seq) {
      return make_error(Errc::bad_request, "reply_to names a message that does not exist");
    }
  }
  return m;
}

void ChatService::append(NewMessage message, MessageLog::Done done) {
  // Its id and time, fixed before the log: a replay of the cluster's log rewrites the same row.
  if (message.id.empty()) {
    message.ts = clock_.now_ms();
    message.id = ids_.uuid_v7(message.ts);
  }
  if (!sealer_) {
    log_.append(std::move(message), std::move(done));
    return;
  }
  // The sender's ack carries the message open: a new one is what was sealed (kept here, so it
  // need not be opened again); a retry's stored original may be older, or edited, and is opened.
  // Only the two sealed fields are kept aside (not the whole message).
  struct Plain {
    std::string body, attachments;
  } plain{message.body, message.attachments};
  sealer_->seal(message);
  log_.append(std::move(message), [this, plain = std::move(plain),
                                   done = std::move(done)](Result<Appended> r) mutable {
    if (r && !r->duplicate) {
      r->msg.body = std::move(plain.body);
      r->msg.attachments = std::move(plain.attachments);
    } else if (r) {
      if (auto s = open(r->msg); !s) r = s.error();
    }
    done(std::move(r));
  });
}

void ChatService::publish_sequenced(const Message& m) {
  // The log's sequencing thread, in seq order: publishing here keeps each conversation's events
  // in order for every recipient (invariant 4, docs/architecture.md).
  auto list = members_.get(m.conv);
  if (!list) return;
  Message open_message = m;
  if (auto s = open(open_message); !s) return;  // logged; members find it missing on sync too
  publish(m.conv, MessageEvent{std::move(open_message)}, **list);
}

Status ChatService::open(Message& m) const {
  if (!sealer_) return ok_status();
  if (auto s = sealer_->open(m); !s) {
    log::error("event=message_unreadable id={} conv={} error=\"{}\"", m.id, m.conv,
               s.error().message);
    return make_error(Errc::internal, "a message cannot be read");
  }
  return ok_status();
}

Status ChatService::open(std::vector<Message>& messages) const {
  for (auto& m : messages) {
    if (auto s = open(m); !s) return s;
  }
  return ok_status();
}

Result<HistoryPage> ChatService::opened(Result<HistoryPage> page) const {
  if (!page) return page;
  if (auto s = open(page->messages); !s) return s.error();
  return page;
}

}  // namespace parley
