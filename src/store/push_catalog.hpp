#pragma once
// PushCatalog: what push notifications keep (docs/architecture.md, "Push notifications") — the
// devices that asked to be notified (subscriptions, one per login session), each member's
// per-conversation push state (how far pushes went, what is pending, mute), and the push jobs:
// one per (subscription, conversation, seq), the job's idempotency key, kept until the push
// service took it.
//
// The flow it stores: a committed message is *noted* for every other member with a
// subscription (pending_to moves up, the burst's count grows); when a pending entry is due the
// dispatcher *claims* it (a lease, so that one node of a cluster handles it), decides, and
// either postpones it, drops it (delivered meanwhile, muted) or *finishes* it, which turns it
// into one job per subscription in the same transaction that moves pushed_seq — so a message is
// pushed at most once per device even if it is noted again. Jobs are claimed the same way,
// deleted once sent, rescheduled on a retryable failure.
//
// Every method is blocking and thread-safe: call it from the push dispatcher's thread or the
// blocking pool, never from a network shard. Implemented by SqliteStore and PostgresStore beside
// Store (the same database: removal with the login session is one transaction); both pass the
// contract suite in tests/contract/push_catalog_contract.cpp.

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "chat/types.hpp"
#include "core/result.hpp"

namespace parley {

// Where a device wants its notifications (docs/protocol.md, "Push notifications").
struct PushSubscription {
  enum class Kind : std::uint8_t { web_push, webhook, fcm };
  std::int64_t id = 0;
  chat::UserId user_id = 0;
  chat::SessionId session_id = 0;  // the login session it belongs to: it ends with it
  Kind kind = Kind::web_push;
  // web_push: the push service's endpoint URL; webhook: the gateway's URL; fcm: the registration
  // token.
  std::string endpoint;
  // web_push: the browser's P-256 key (`keys.p256dh`) and auth secret (`keys.auth`), base64url
  // as PushSubscription.toJSON() gives them. webhook: the device's key at the gateway (its
  // `pushkey`, passed on in every notification) and the bearer token the gateway expects ("":
  // none). fcm: unused.
  std::string key;
  std::string secret;
  TimeMs created_at = 0;
};

// The kinds as the API and the database name them: "web_push", "webhook", "fcm".
inline std::string_view to_string(PushSubscription::Kind kind) {
  switch (kind) {
    case PushSubscription::Kind::web_push: return "web_push";
    case PushSubscription::Kind::webhook: return "webhook";
    case PushSubscription::Kind::fcm: return "fcm";
  }
  return "web_push";
}
inline std::optional<PushSubscription::Kind> push_kind_from_string(std::string_view text) {
  for (auto k : {PushSubscription::Kind::web_push, PushSubscription::Kind::webhook,
                 PushSubscription::Kind::fcm}) {
    if (to_string(k) == text) return k;
  }
  return std::nullopt;
}

// A committed message to note for push (MessageLog's subscriber hands these over).
struct PushNote {
  chat::ConvId conv;
  chat::Seq seq = 0;
  chat::UserId sender_id = 0;
  std::string id = {};  // the message's id (UUIDv7: ordered by time)
};

// A member's due pending pushes of one conversation, as claim_due_pushes hands them out.
struct PendingPush {
  chat::UserId user_id = 0;
  chat::ConvId conv;
  chat::Seq pending_from = 0;  // the first and last noted seq since the last push
  chat::Seq pending_to = 0;
  std::int64_t count = 0;      // messages noted since the last push
  TimeMs first_noted_at = 0;   // when pending_from was noted
  TimeMs muted_until = 0;      // 0: not muted
  // The member's delivered_seq now; nullopt when they are no longer a member.
  std::optional<chat::Seq> delivered_seq;
  TimeMs lease = 0;  // the claim's leased_until: what postpone and finish present
};

// One push to one device, as claim_push_jobs hands it out: the key, the notification's JSON
// (the same for every device of the member), and where to send it.
struct PushJob {
  PushSubscription subscription;
  chat::ConvId conv;
  chat::Seq seq = 0;
  std::string payload;    // JSON
  int attempts = 0;       // failed attempts so far
  TimeMs expires_at = 0;  // not sent by then: dropped
  TimeMs lease = 0;       // the claim's leased_until: what renew and reschedule present
};

// The kinds a node sends, as a bit set for claim_push_jobs (a node without FCM leaves FCM's jobs
// to the nodes that have it).
constexpr unsigned push_kind_bit(PushSubscription::Kind kind) { return 1u << static_cast<unsigned>(kind); }

class PushCatalog {
 public:
  virtual ~PushCatalog() = default;

  // ---- subscriptions
  // Stores the subscription of s.session_id, replacing the session's earlier one and any other
  // with the same kind, endpoint and key (a browser profile that signed in again). Returns it
  // with its id. Errc::unauthenticated when the session is revoked (meanwhile); Errc::too_large
  // when that would give the user more than max_per_user.
  virtual Result<PushSubscription> put_push_subscription(const PushSubscription& s,
                                                         int max_per_user) = 0;
  virtual Result<std::vector<PushSubscription>> push_subscriptions_of(chat::UserId user) = 0;
  // Removes one of the user's subscriptions and its jobs. Errc::not_found when the user has no
  // such subscription.
  virtual Status remove_push_subscription(chat::UserId user, std::int64_t id) = 0;
  // Removes a subscription the push service says is gone (404, 410), and its jobs. Removing
  // one that is gone already is not an error.
  virtual Status drop_push_subscription(std::int64_t id) = 0;
  // (Subscriptions of a login session also go when the session is revoked: AccountCatalog's
  // revoke_session and revoke_all_sessions remove them in the same transaction.)

  // ---- per-conversation settings
  // Mutes the user's notifications of conv until `until` (0: unmutes). Errc::not_found when
  // the user is not a member.
  virtual Status set_push_mute(chat::UserId user, std::string_view conv, TimeMs until) = 0;
  // When conv is muted for the user until (0: not muted).
  virtual Result<TimeMs> push_mute(chat::UserId user, std::string_view conv) = 0;

  // ---- pending pushes
  // Notes each message for every member of its conversation but the sender who has a
  // subscription: a member with nothing pending since their last push starts a burst due at
  // `due_at`; otherwise the message joins their pending burst (its due time stays). A seq at or
  // below what was pushed or is pending changes nothing (notes may be replayed). Returns how
  // many member entries changed. With record_progress (the embedded node), the newest message
  // id noted so far moves up to the newest of `notes`, in the same transaction.
  virtual Result<std::int64_t> note_for_push(std::span<const PushNote> notes, TimeMs now,
                                             TimeMs due_at, bool record_progress) = 0;
  // Asks the store to note every message for push in the transaction that stores it, due
  // `coalesce` after its commit — the same as note_for_push, with no moment in which a crash
  // could lose the note. True when it will (PostgreSQL); false when it cannot (SQLite, whose
  // commit is a journal record: the dispatcher notes, and recovers after a crash). Before the
  // first message is stored.
  virtual bool note_at_commit(std::chrono::milliseconds coalesce) {
    (void)coalesce;
    return false;
  }
  // The newest message id note_for_push recorded ("" when none): after a crash, the messages
  // committed but not noted come after it.
  virtual Result<std::string> push_noted_up_to() = 0;
  // Claims up to `limit` pending entries due at `now` whose lease has run out, leasing them
  // until lease_until, earliest due first.
  virtual Result<std::vector<PendingPush>> claim_due_pushes(TimeMs now, TimeMs lease_until,
                                                            int limit) = 0;
  // Every change to a claimed entry or job presents the claim's lease and happens only while
  // the caller still holds it: a node whose lease ran out (another node claimed the row since)
  // changes nothing.
  //
  // Pending entry (user, conv) waits until due_at (the lease ends). False: the lease was lost.
  virtual Result<bool> postpone_push(chat::UserId user, std::string_view conv, TimeMs lease,
                                     TimeMs due_at) = 0;
  // Ends the pending burst of (user, conv) up to `upto` (pushed_seq moves there) and, unless
  // payload is empty (nothing to send: delivered or muted), adds a job per subscription of the
  // user for seq `upto` with that payload, expiring at expires_at, due now; jobs that exist
  // already are kept as they are. Messages noted after `upto` stay pending as a burst of their
  // own, first noted now and due at next_due. Returns how many jobs it added (0 when the lease
  // was lost).
  virtual Result<std::int64_t> finish_push(chat::UserId user, std::string_view conv, TimeMs lease,
                                           chat::Seq upto, std::string_view payload, TimeMs now,
                                           TimeMs expires_at, TimeMs next_due) = 0;

  // ---- jobs
  // Claims up to `limit` jobs due at `now` whose lease has run out and whose subscription's kind
  // is in `kinds` (push_kind_bit), leasing them until lease_until, oldest due first.
  virtual Result<std::vector<PushJob>> claim_push_jobs(TimeMs now, TimeMs lease_until, int limit,
                                                       unsigned kinds) = 0;
  // Extends a claimed job's lease (it waits for a free sender). False: the lease was lost.
  virtual Result<bool> renew_push_job(std::int64_t subscription, std::string_view conv,
                                      chat::Seq seq, TimeMs lease, TimeMs new_lease) = 0;
  // The job was sent (or given up on): it goes, whoever holds it (it must not go out again).
  virtual Status finish_push_job(std::int64_t subscription, std::string_view conv,
                                 chat::Seq seq) = 0;
  // The job is tried again at next_at, counting a failed attempt when `failed` (else it was
  // only put back: its service was busy). Nothing when the lease was lost.
  virtual Status reschedule_push_job(std::int64_t subscription, std::string_view conv,
                                     chat::Seq seq, TimeMs lease, TimeMs next_at,
                                     bool failed) = 0;
  // Ends every lease (the embedded node at start: no other node can hold one).
  virtual Status release_push_leases() = 0;
  // Pending entries with something to push, and jobs waiting: /metrics' queue depth.
  virtual Result<std::pair<std::int64_t, std::int64_t>> push_backlog() = 0;
};

}  // namespace parley
