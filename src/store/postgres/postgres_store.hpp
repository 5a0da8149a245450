#pragma once
// PostgresStore: the cluster Store (docs/operations.md, "PostgreSQL store"), on libpq.
//
// A pool of connections, opened on demand up to `pool_size` and replaced when the server drops
// them; every method leases one for its statements, and write methods run in one transaction.
// Versioned migrations run at construction under an advisory lock, so nodes starting together
// do not race. Every commit is durable with PostgreSQL's default synchronous_commit = on, but
// for the sequencer's batches under LogCommits::replayable.
// Thread-safe: call from any thread except a network shard (every call blocks on the network).

#include <atomic>
#include <condition_variable>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/postgres/pg.hpp"
#include "store/account_catalog.hpp"
#include "store/device_catalog.hpp"
#include "store/file_catalog.hpp"
#include "store/push_catalog.hpp"
#include "store/store.hpp"

namespace parley {

class PostgresStore final : public Store,
                            public AccountCatalog,
                            public FileCatalog,
                            public DeviceCatalog,
                            public PushCatalog {
 public:
  // How append_messages commits a batch read from the cluster's log (one with positions):
  //   flushed     waits for the WAL flush, like every other commit;
  //   replayable  does not (synchronous_commit = off for that transaction only). The log holds
  //               every record the batch came from, the batch's ids and times were fixed before
  //               the log, and its positions roll back with its rows: after a PostgreSQL crash
  //               the sequencer reads them again and writes the very same rows
  //               (docs/operations.md, "Kafka message log", says what a crash then costs).
  // A batch without positions (LocalLog) always waits for the flush.
  enum class LogCommits { flushed, replayable };

  // url: a libpq connection URI (postgres://user@host:port/db?…). Throws std::runtime_error
  // when the server cannot be reached or its schema is newer than this binary.
  PostgresStore(std::string url, int pool_size, LogCommits log_commits = LogCommits::flushed);
  ~PostgresStore() override;

  Result<chat::User> create_user(std::string_view username, std::string_view password_hash,
                                 TimeMs now) override;
  Result<chat::UserCredentials> find_credentials(std::string_view username) override;
  Result<chat::User> find_user(std::string_view username) override;
  Result<chat::User> get_user(chat::UserId id) override;

  // AccountCatalog
  Result<chat::SessionId> create_session(chat::UserId user, std::string_view device,
                                         std::string_view provider, std::string_view refresh_hash,
                                         TimeMs now) override;
  Result<LoginSession> rotate_refresh(std::string_view old_hash, std::string_view new_hash,
                                      TimeMs now, TimeMs min_last_used) override;
  Status revoke_session(chat::UserId user, chat::SessionId id, TimeMs now) override;
  Result<std::vector<chat::SessionId>> revoke_all_sessions(chat::UserId user, TimeMs now) override;
  Result<std::vector<LoginSessionInfo>> sessions_of(chat::UserId user,
                                                    TimeMs min_last_used) override;
  Result<std::vector<chat::SessionId>> sessions_revoked_since(TimeMs since) override;
  Result<std::optional<chat::UserId>> find_identity(std::string_view provider,
                                                    std::string_view subject) override;
  Result<chat::User> create_external_user(const ExternalProfile& profile, TimeMs now) override;
  Status link_identity(chat::UserId user, std::string_view provider, std::string_view subject,
                       TimeMs now) override;
  Result<std::optional<chat::UserId>> find_user_by_email(std::string_view email) override;
  Result<std::optional<SecondFactor>> second_factor(chat::UserId user) override;
  Status begin_second_factor(chat::UserId user, std::string_view secret, TimeMs now) override;
  Status confirm_second_factor(chat::UserId user, std::int64_t step,
                               const std::vector<std::string>& recovery_hashes) override;
  Result<bool> use_totp_step(chat::UserId user, std::int64_t step) override;
  Result<bool> use_recovery_code(chat::UserId user, std::string_view hash, TimeMs now) override;
  Status remove_second_factor(chat::UserId user) override;

  Result<chat::Conversation> get_or_create_direct(chat::UserId a, chat::UserId b,
                                                  const chat::ConvId& new_id, TimeMs now,
                                                  bool e2ee) override;
  Result<std::optional<chat::ConvId>> find_direct(chat::UserId a, chat::UserId b) override;
  Result<chat::Conversation> create_group(const NewGroup& group) override;
  Result<chat::Conversation> get_conversation(std::string_view id) override;
  Result<std::vector<chat::Member>> members(std::string_view conv) override;
  Status add_member(std::string_view conv, chat::UserId user, chat::Role role, TimeMs now) override;
  Status remove_member(std::string_view conv, chat::UserId user, TimeMs now) override;
  Result<std::vector<chat::ConversationSummary>> conversations_of(chat::UserId user) override;
  Result<std::vector<chat::Departure>> departures_of(chat::UserId user) override;
  Result<std::vector<chat::UserId>> contacts_of(chat::UserId user) override;
  Result<std::vector<chat::ConvId>> groups_of(chat::UserId user) override;

  Result<std::pair<chat::Cursors, bool>> advance_cursors(std::string_view conv, chat::UserId user,
                                                         chat::Seq delivered,
                                                         chat::Seq read) override;
  Status record_last_seen(std::span<const std::pair<chat::UserId, TimeMs>> seen) override;

  std::vector<Result<chat::Appended>> append_messages(std::span<const chat::NewMessage> batch,
                                                      TimeMs now, IdGenerator& ids,
                                                      std::span<const LogPosition> positions) override;
  Result<std::optional<std::int64_t>> log_position(std::string_view topic,
                                                   int partition) override;
  Result<chat::HistoryPage> history(std::string_view conv, const HistoryQuery& q) override;
  Result<std::optional<chat::Message>> message(std::string_view conv, chat::Seq seq) override;
  Result<chat::Message> change_message(std::string_view conv, chat::Seq seq,
                                       chat::UserId sender_id, std::optional<std::string> body,
                                       TimeMs now) override;
  Result<chat::HistoryPage> changes(std::string_view conv, std::int64_t after, int limit) override;
  Result<std::vector<chat::Message>> messages_by_id(std::string_view after_id, int limit) override;
  Result<int> reseal_messages(std::span<const Resealed> changes) override;

  // FileCatalog.
  Status add_file(const chat::FileRecord& file, std::int64_t quota_bytes) override;
  Result<chat::FileRecord> get_file(std::string_view id) override;
  Result<std::int64_t> bytes_owned(chat::UserId owner) override;
  Status link_file(std::string_view file_id, std::string_view conv, chat::UserId sender,
                   std::string_view client_msg_id) override;
  Result<bool> shared_with(std::string_view file_id, chat::UserId user) override;
  Result<std::vector<chat::FileRecord>> unattached_files(TimeMs before, int limit) override;
  Status remove_file(std::string_view id) override;
  Result<std::vector<chat::FileRecord>> files_by_id(std::string_view after_id, int limit) override;
  Result<bool> reseal_file_name(std::string_view id, std::string_view expected,
                                std::string_view name) override;

  // DeviceCatalog.
  Result<bool> put_device(const chat::DeviceKeys& keys, int max_devices) override;
  Result<std::int64_t> add_one_time_prekeys(chat::UserId user, std::string_view device,
                                            const std::vector<chat::OneTimePrekey>& keys,
                                            std::int64_t max_stored) override;
  Result<std::vector<chat::DeviceKeys>> devices_of(chat::UserId user, bool claim) override;
  Status remove_device(chat::UserId user, std::string_view device) override;

  // PushCatalog (postgres_push_catalog.cpp).
  Result<PushSubscription> put_push_subscription(const PushSubscription& s,
                                                 int max_per_user) override;
  Result<std::vector<PushSubscription>> push_subscriptions_of(chat::UserId user) override;
  Status remove_push_subscription(chat::UserId user, std::int64_t id) override;
  Status drop_push_subscription(std::int64_t id) override;
  Status set_push_mute(chat::UserId user, std::string_view conv, TimeMs until) override;
  Result<TimeMs> push_mute(chat::UserId user, std::string_view conv) override;
  Result<std::int64_t> note_for_push(std::span<const PushNote> notes, TimeMs now,
                                     TimeMs due_at, bool record_progress) override;
  Result<std::string> push_noted_up_to() override;
  bool note_at_commit(std::chrono::milliseconds coalesce) override;
  Result<std::vector<PendingPush>> claim_due_pushes(TimeMs now, TimeMs lease_until,
                                                    int limit) override;
  Result<bool> postpone_push(chat::UserId user, std::string_view conv, TimeMs lease,
                             TimeMs due_at) override;
  Result<std::int64_t> finish_push(chat::UserId user, std::string_view conv, TimeMs lease,
                                   chat::Seq upto, std::string_view payload, TimeMs now,
                                   TimeMs expires_at, TimeMs next_due) override;
  Result<std::vector<PushJob>> claim_push_jobs(TimeMs now, TimeMs lease_until, int limit,
                                               unsigned kinds) override;
  Result<bool> renew_push_job(std::int64_t subscription, std::string_view conv, chat::Seq seq,
                              TimeMs lease, TimeMs new_lease) override;
  Status finish_push_job(std::int64_t subscription, std::string_view conv,
                         chat::Seq seq) override;
  Status reschedule_push_job(std::int64_t subscription, std::string_view conv, chat::Seq seq,
                             TimeMs lease, TimeMs next_at, bool failed) override;
  Status release_push_leases() override;
  Result<std::pair<std::int64_t, std::int64_t>> push_backlog() override;

 private:
  class Lease;
  // note_at_commit: append_messages notes new messages for push, due this much later; -1: the
  // dispatcher notes them.
  std::atomic<std::int64_t> note_at_commit_ms_{-1};
  // A connection from the pool (opening one if none is idle and the pool is not full). Fails
  // with Errc::unavailable when the server cannot be reached.
  Result<Lease> lease();
  void give_back(std::unique_ptr<pg::Connection> conn);
  // One statement on a pooled connection, outside any transaction: its rows, or the storage
  // error (logged as `op`).
  Result<pg::Result> query(std::string_view op, const char* sql,
                           std::initializer_list<pg::Param> params = {});
  // Runs f(conn) inside BEGIN … COMMIT; rolls back when f returns an error.
  template <class F>
  auto transaction(std::string_view what, F&& f) -> decltype(f(std::declval<pg::Connection&>()));

  const std::string url_;
  const int pool_size_;
  const LogCommits log_commits_;
  std::mutex mutex_;
  std::condition_variable idle_cv_;
  std::vector<std::unique_ptr<pg::Connection>> idle_;
  int open_ = 0;  // connections in existence (idle or leased)
};

}  // namespace parley
