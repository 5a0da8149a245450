#pragma once
// ChatService: Parley's use cases — accounts, conversations, membership, sending and reading —
// composed from the chat rules and the backend interfaces (Store, MessageLog, Bus). Every REST
// route and WebSocket op is a thin adapter over one method here, so authorization (DESIGN.md §2.5)
// and validation (§2.7) live in one place.
//
// Threads: methods marked [blocking] read or write the Store and may take milliseconds (argon2id
// takes tens): call them from the blocking pool. [non-blocking] methods are safe on a network
// shard. append()'s completion runs on the log's writer thread. Thread-safe throughout.

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
#include "log/message_log.hpp"
#include "service/membership_cache.hpp"
#include "store/store.hpp"

namespace parley {

// The authenticated user behind a request.
struct Caller {
  chat::UserId user_id = 0;
  std::string username;
  chat::SessionId session_id = 0;
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

struct ServiceOptions {
  chat::Limits limits;
  std::chrono::seconds refresh_ttl{std::chrono::hours(24 * 30)};
  std::size_t membership_cache_entries = 100'000;
};

class ChatService {
 public:
  ChatService(Store& store, MessageLog& log, Bus& bus, const Clock& clock, IdGenerator& ids,
              const auth::TokenSigner& tokens, ServiceOptions options);

  const chat::Limits& limits() const { return options_.limits; }

  // ---- accounts
  Result<chat::User> register_user(std::string_view username, std::string_view password);  // [blocking]
  Result<LoginResult> login(std::string_view username, std::string_view password,
                            std::string_view device);                                      // [blocking]
  Result<LoginResult> refresh(std::string_view refresh_token);                            // [blocking]
  Status logout(const Caller& caller);                                                     // [blocking]
  Result<Caller> authenticate(std::string_view access_token) const;                   // [non-blocking]
  Result<chat::User> me(const Caller& caller);                                             // [blocking]
  // Loads the sessions revoked within one access-token lifetime, so that their still-unexpired
  // access tokens stay refused after a restart. [blocking]
  Status load_revocations();

  // ---- conversations and membership [blocking]
  Result<chat::Conversation> create_group(const Caller& caller, std::string_view name,
                                          const std::vector<std::string>& members,
                                          std::string_view passcode);
  Status add_member(const Caller& caller, const chat::ConvId& group, std::string_view username);
  Status remove_member(const Caller& caller, const chat::ConvId& group, std::string_view username);
  Result<chat::Conversation> join_group(const Caller& caller, const chat::ConvId& group,
                                        std::string_view passcode);
  // A group and its members, for members only.
  Result<GroupInfo> group_info(const Caller& caller, const chat::ConvId& group);
  Result<std::vector<chat::ConversationSummary>> conversations(const Caller& caller);
  Result<chat::HistoryPage> history(const Caller& caller, const chat::ConvId& conv,
                                    const HistoryRequest& request);
  // Group routes: like history, but a direct conversation id is "no such group".
  Result<chat::HistoryPage> group_history(const Caller& caller, const chat::ConvId& group,
                                          const HistoryRequest& request);
  Result<chat::HistoryPage> direct_history(const Caller& caller, std::string_view peer,
                                           const HistoryRequest& request);

  // ---- sending
  // Validates, authorizes and resolves the conversation (creating the direct one on first use).
  // [blocking]
  Result<chat::NewMessage> prepare_send(const Caller& caller, SendRequest request,
                                        bool group_only = false);
  // Appends to the log; on a fresh (non-duplicate) commit publishes the message event to every
  // member, before `done` runs. [non-blocking]
  void append(chat::NewMessage message, MessageLog::Done done);

 private:
  Result<LoginResult> issue_tokens(const chat::User& user, chat::SessionId session,
                                   std::string refresh_token);
  // The caller's role in conv: not_found (no such conversation), not_member.
  Result<chat::Role> require_member(const Caller& caller, const chat::ConvId& conv);
  Result<chat::Conversation> require_group(const chat::ConvId& id);
  static Status check_history_request(const HistoryRequest& request);
  Result<chat::HistoryPage> read_history(const chat::ConvId& conv, const HistoryRequest& request);
  void publish_membership(const chat::ConvId& conv, std::string change, std::string user,
                          std::string by, std::vector<chat::UserId> extra_recipients);

  Store& store_;
  MessageLog& log_;
  Bus& bus_;
  const Clock& clock_;
  IdGenerator& ids_;
  const auth::TokenSigner& tokens_;
  const ServiceOptions options_;
  MembershipCache members_;

  // Login sessions revoked (logout) within the access-token lifetime → when. Their access tokens
  // are refused until they expire on their own.
  mutable std::mutex revoked_mutex_;
  std::unordered_map<chat::SessionId, TimeMs> revoked_;
};

}  // namespace parley
