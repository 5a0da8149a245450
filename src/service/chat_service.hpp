#pragma once
// ChatService: Parley's use cases — accounts, conversations, membership, sending and reading —
// composed from the chat rules and the backend interfaces (Store, MessageLog, Bus, Presence).
// Every REST route and WebSocket op is a thin adapter over one method here, so authorization
// (invariant 5, docs/architecture.md) and validation (invariant 7) live in one place.
//
// Encryption at rest (crypto/message_sealer.hpp): append seals a message's body and attachments,
// change_message an edit's body; every method that returns or publishes messages opens them, so
// what leaves the service is plaintext and what goes below it (log, store, bus) is sealed.
//
// Threads: methods marked [blocking] read or write the Store and may take milliseconds (argon2id
// takes tens): call them from the blocking pool. [non-blocking] methods are safe on a network
// shard. append()'s completion runs on a log thread, in commit order. Thread-safe throughout.

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/tokens.hpp"
#include "bus/bus.hpp"
#include "chat/rules.hpp"
#include "core/ids.hpp"
#include "crypto/message_sealer.hpp"
#include "log/message_log.hpp"
#include "service/directory.hpp"
#include "service/membership_cache.hpp"
#include "presence/presence.hpp"
#include "service/presence.hpp"
#include "store/account_catalog.hpp"
#include "store/store.hpp"

namespace parley {

// The authenticated user behind a request.
struct Caller {
  chat::UserId user_id = 0;
  std::string username;
  chat::SessionId session_id = 0;
  // When the access token it came with expires (ms since the epoch): a live connection must
  // re-authenticate by then (api/client_session.hpp).
  TimeMs expires_at = 0;
};

struct LoginResult {
  std::string access_token;
  std::string refresh_token;
  std::int64_t expires_in = 0;  // seconds
  chat::User user;
};

// Where a message goes: an existing conversation, or the direct conversation with a user.
struct SendRequest {
  std::optional<chat::ConvId> conv;
  std::optional<std::string> to;
  std::string client_msg_id;
  std::string body;
  std::optional<chat::Seq> reply_to;
  // File ids to attach (FileService::resolve_attachments, in api::prepare_send). A message with
  // attachments may have an empty body.
  std::vector<std::string> attachments = {};
};

// What a reconnecting client needs to catch up (the sync op).
struct SyncState {
  std::vector<chat::ConversationSummary> conversations;
  std::vector<chat::Departure> left;
};

struct PresenceInfo {
  std::string username;
  bool online = false;
  std::optional<TimeMs> last_seen;
};

struct DirectConversation {
  chat::Conversation conversation;
  std::string peer;
  bool created = false;
};

struct GroupInfo {
  chat::Conversation group;
  std::vector<chat::Member> members;
};

struct HistoryRequest {
  std::optional<chat::Seq> before;
  std::optional<chat::Seq> after;
  std::optional<std::int64_t> limit;
};

// What POST /encrypt answers.
struct EncryptedText {
  std::string ciphertext;   // crypto/text_cipher.hpp's form
  std::uint32_t key_id = 0;  // the data key that sealed it
};

struct ServiceOptions {
  chat::Limits limits;
  std::chrono::seconds refresh_ttl{std::chrono::hours(24 * 30)};
  std::size_t membership_cache_entries = 100'000;
  // Signs the challenge a login with a second factor answers (at least 32 bytes; the node
  // derives it from the token secret, so any node finishes another's login).
  std::string challenge_key = std::string(32, '\0');
  std::chrono::seconds challenge_ttl{300};
};

// A TOTP second factor being set up: what an authenticator app needs.
struct TotpEnrollment {
  std::string secret;  // base32
  std::string uri;     // otpauth://…, for a QR code
};

class ChatService {
 public:
  // sealer: nullptr stores and reads messages as they are (tests of other concerns).
  ChatService(Store& store, AccountCatalog& accounts, MessageLog& log, Bus& bus,
              Presence& presence, const Clock& clock,
              IdGenerator& ids, const auth::TokenSigner& tokens, ServiceOptions options,
              const crypto::MessageSealer* sealer = nullptr);

  const chat::Limits& limits() const { return options_.limits; }

  // ---- accounts
  Result<chat::User> register_user(std::string_view username, std::string_view password);  // [blocking]
  Result<LoginResult> login(std::string_view username, std::string_view password,
                            std::string_view device);                                      // [blocking]
  Result<LoginResult> refresh(std::string_view refresh_token);                            // [blocking]
  // ---- a second factor (TOTP, auth/totp.hpp) [blocking]
  // login() of a user with a confirmed second factor answers Errc::mfa_required with a
  // `challenge` detail instead of tokens; login_second_factor finishes it with a TOTP code or a
  // recovery code. Codes are single use: a TOTP step, once used, never works again.
  Result<LoginResult> login_second_factor(std::string_view challenge, std::string_view code,
                                          std::string_view device);
  // A new unconfirmed secret, for the account's password (conflict when one is on; forbidden
  // for an account without a password: an OpenID provider's).
  Result<TotpEnrollment> begin_totp(const Caller& caller, std::string_view password);
  // Turns it on with its first code; returns the recovery codes (shown once, kept hashed).
  Result<std::vector<std::string>> confirm_totp(const Caller& caller, std::string_view code);
  // Turns it off, with a current code or a recovery code.
  Status disable_totp(const Caller& caller, std::string_view code);
  // The user a challenge was issued to, if it is genuine and unexpired. [non-blocking]
  std::optional<chat::UserId> challenge_user(std::string_view challenge) const;

  // Signs in a user another check vouched for (an OpenID provider, service/oidc_sign_in.hpp):
  // a new login session on `device`, recorded as signed in with `provider`. [blocking]
  Result<LoginResult> sign_in(const chat::User& user, std::string_view device,
                              std::string_view provider);
  Status logout(const Caller& caller);                                                     // [blocking]
  // The caller's live login sessions (GET /auth/sessions). [blocking]
  Result<std::vector<LoginSessionInfo>> sessions(const Caller& caller);
  // Ends one of the caller's login sessions, or every one (logout everywhere): their refresh
  // tokens stop working, their access tokens are refused, and their live connections close on
  // every node. not_found for a session that is not the caller's or is over. [blocking]
  Status revoke_session(const Caller& caller, chat::SessionId session);
  Result<std::size_t> logout_all(const Caller& caller);
  Result<Caller> authenticate(std::string_view access_token) const;                   // [non-blocking]
  Result<chat::User> me(const Caller& caller);                                             // [blocking]
  // Loads the sessions revoked within one access-token lifetime, so that their still-unexpired
  // access tokens stay refused after a restart. [blocking]
  Status load_revocations();
  // An event another node published, relayed by the cluster bus: updates what this node keeps
  // in memory (revoked sessions, cached member lists) as that node did. [non-blocking]
  void apply_relayed(const chat::Envelope& envelope);

  // ---- conversations and membership [blocking]
  // e2ee: end-to-end encrypted (docs/protocol.md §11.2), for good.
  Result<chat::Conversation> create_group(const Caller& caller, std::string_view name,
                                          const std::vector<std::string>& members,
                                          std::string_view passcode, bool e2ee = false);
  // The direct conversation with `peer`, created (end-to-end encrypted when e2ee) if there is
  // none. conflict when it exists with the other e2ee: a pair has one direct conversation.
  Result<DirectConversation> open_direct(const Caller& caller, std::string_view peer, bool e2ee);
  Status add_member(const Caller& caller, const chat::ConvId& group, std::string_view username);
  Status remove_member(const Caller& caller, const chat::ConvId& group, std::string_view username);
  Result<chat::Conversation> join_group(const Caller& caller, const chat::ConvId& group,
                                        std::string_view passcode);
  // A group and its members, for members only.
  Result<GroupInfo> group_info(const Caller& caller, const chat::ConvId& group);
  Result<std::vector<chat::ConversationSummary>> conversations(const Caller& caller);
  // Every conversation with its cursors and unread count, and the ones the caller left.
  Result<SyncState> sync(const Caller& caller);
  Result<chat::HistoryPage> history(const Caller& caller, const chat::ConvId& conv,
                                    const HistoryRequest& request);
  // Group routes: like history, but a direct conversation id is "no such group".
  Result<chat::HistoryPage> group_history(const Caller& caller, const chat::ConvId& group,
                                          const HistoryRequest& request);
  Result<chat::HistoryPage> direct_history(const Caller& caller, std::string_view peer,
                                           const HistoryRequest& request);

  // ---- receipts, edits, typing [blocking]
  // Moves the caller's cursors forward (0 leaves one as it is); publishes a receipt event to the
  // members when they moved. Returns the cursors after the update.
  Result<chat::Cursors> mark(const Caller& caller, const chat::ConvId& conv, chat::Seq delivered,
                             chat::Seq read);
  // Edits (body) or deletes (nullopt) the caller's own message; publishes message_updated.
  Result<chat::Message> change_message(const Caller& caller, const chat::ConvId& conv,
                                       chat::Seq seq, std::optional<std::string> body);
  // Messages edited or deleted after rev `after_rev`, in rev order.
  Result<chat::HistoryPage> changes(const Caller& caller, const chat::ConvId& conv,
                                    std::int64_t after_rev, std::optional<std::int64_t> limit);
  // Tells the other members the caller is typing. Never stored. (Rate limits are the caller's.)
  Status typing(const Caller& caller, const chat::ConvId& conv);

  // ---- presence
  // Sessions opening and closing [non-blocking]. True when there is more to do — opened: call
  // arrive(); closed: call settle_presence() after the grace period.
  bool presence_opened(const Caller& caller);
  bool presence_closed(const Caller& caller);
  // The user is online on this node: tells the cluster, and announces online to their contacts
  // unless another node had them already. [blocking]
  void arrive(const Caller& caller);
  // After the grace period: if the user has not come back, tells the cluster, and announces
  // offline unless another node still has them. [blocking]
  void settle_presence(const Caller& caller);
  // Keeps this node's users online in the cluster (Presence::heartbeat), and announces offline
  // the users of a dead node that the heartbeat hands to this one. [blocking]
  // arrive, settle_presence and presence_heartbeat must run one at a time, in the order their
  // causes happened (the API runs them on one strand).
  void presence_heartbeat();
  // Presence of a user who shares a conversation with the caller (else forbidden). [blocking]
  Result<PresenceInfo> presence_of(const Caller& caller, std::string_view username);
  // Whether the user has a session on any node (push notifications wait for those to report
  // delivery). May block on the cluster's presence (Redis). [blocking]
  bool online(chat::UserId user);
  // Writes the batched last-seen times to the store. [blocking]
  Status flush_last_seen();

  // ---- the encryption service (docs/security.md, "The encryption service") [blocking]
  // Seals a text (sized like a message body) for the caller, or for conv when given (the caller
  // must be a member: not_found, not_member). unavailable when the node has no keyring.
  Result<EncryptedText> encrypt_text(const Caller& caller, std::string_view text,
                                     const std::optional<chat::ConvId>& conv);
  // Opens what encrypt_text sealed, for the user it is bound to (else forbidden) or a current
  // member of its conversation (else not_member). bad_ciphertext: malformed, tampered with,
  // truncated, or sealed elsewhere. Entitlement is checked before the ciphertext is opened, so
  // the service tells nobody else whether a ciphertext is genuine.
  Result<std::string> decrypt_text(const Caller& caller, std::string_view ciphertext);

  // ---- sending
  // Validates, authorizes and resolves the conversation (creating the direct one on first use).
  // [blocking]
  Result<chat::NewMessage> prepare_send(const Caller& caller, SendRequest request,
                                        bool group_only = false);
  // The same from memory alone (the directory and the membership cache): the common case, with
  // no thread hop and no database access. nullopt when the store is needed — request is then
  // untouched: call prepare_send with it on the blocking pool. When it returns a message, the
  // body and client id have been moved out of request. [non-blocking]
  std::optional<Result<chat::NewMessage>> try_prepare_send(const Caller& caller,
                                                           SendRequest& request,
                                                           bool group_only = false);
  // Gives the message its id, seals it and appends it to the log. Whichever node sequences the
  // message publishes its event to every member (publish_sequenced, installed as the log's
  // on_sequenced), before `done` runs with the message open. [non-blocking]
  void append(chat::NewMessage message, MessageLog::Done done);

 private:
  void publish_sequenced(const chat::Message& m);
  // Opens what the store or the log gives back sealed. An error (logged with the message's id
  // as event=message_unreadable) is internal: tampering, or a key this node does not have.
  Status open(chat::Message& m) const;
  Status open(std::vector<chat::Message>& messages) const;
  Result<chat::HistoryPage> opened(Result<chat::HistoryPage> page) const;
  // Publishes a presence event to everyone who shares a conversation with the user.
  void announce_presence(const Caller& caller, bool online, std::optional<TimeMs> last_seen);
  Status check_send(const SendRequest& request) const;
  // A send's or an edit's body, once its conversation is known: an envelope in an e2ee one
  // (service/e2ee.hpp), else text. A send with attachments may have an empty body.
  Status check_body(std::string_view body, bool e2ee, bool has_attachments) const;
  // A username's id, from the directory or the store (which then fills the directory).
  Result<chat::UserId> resolve_user(std::string_view username);
  // Refuses the access tokens of these login sessions from now on (until they expire) and
  // closes their live connections on every node.
  void end_sessions(chat::UserId user, const std::vector<chat::SessionId>& sessions);
  // Checks a TOTP code (or, when allowed, a recovery code) against the user's second factor,
  // using it up. unauthenticated when it does not match or was used.
  Status check_second_factor(chat::UserId user, std::string_view code, bool allow_recovery);
  // A login challenge's claims: whom it was issued to, and the device the login named.
  struct Challenge {
    chat::UserId user = 0;
    std::string device;
  };
  // A genuine, unexpired challenge's claims, or nullopt. [non-blocking]
  std::optional<Challenge> open_challenge(std::string_view challenge) const;
  std::string seal_secret(chat::UserId user, std::string_view secret) const;
  Result<std::string> open_secret(chat::UserId user, std::string_view stored) const;
  std::string recovery_hash(std::string_view code) const;
  Result<LoginResult> issue_tokens(const chat::User& user, chat::SessionId session,
                                   std::string refresh_token);
  // The caller's role in conv: not_found (no such conversation), not_member.
  Result<chat::Role> require_member(const Caller& caller, const chat::ConvId& conv);
  Result<chat::Conversation> require_group(const chat::ConvId& id);
  static Status check_history_request(const HistoryRequest& request);
  Result<chat::HistoryPage> read_history(const chat::ConvId& conv, const HistoryRequest& request);
  void publish(const chat::ConvId& conv, chat::Event event, const MemberList& members,
               chat::UserId except = 0);
  Status attach_receipts(const chat::ConvId& conv, chat::HistoryPage& page);
  // A ConversationEvent to the members (and to `member`, the one added or removed; 0 for
  // "created").
  void publish_membership(const chat::ConvId& conv, std::string change, chat::UserId member,
                          std::string username, std::string by);

  Store& store_;
  AccountCatalog& accounts_;
  MessageLog& log_;
  Bus& bus_;
  Presence& presence_;  // the cluster's view; tracker_ counts this node's sessions
  const Clock& clock_;
  IdGenerator& ids_;
  const auth::TokenSigner& tokens_;
  const ServiceOptions options_;
  const crypto::MessageSealer* const sealer_;
  MembershipCache members_;
  Directory directory_;
  PresenceTracker tracker_;

  // Login sessions revoked (logout) within the access-token lifetime → when. Their access tokens
  // are refused until they expire on their own.
  mutable std::mutex revoked_mutex_;
  std::unordered_map<chat::SessionId, TimeMs> revoked_;
};

}  // namespace parley
