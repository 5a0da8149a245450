#pragma once
// SqliteStore: the embedded Store (docs/architecture.md §1, "store/").
//
// One write connection, serialised by write_mutex_ (SQLite allows one writer; the message writer
// thread holds it for one group-commit transaction at a time), and a pool of read-only
// connections: in WAL mode readers never block the writer and see every committed transaction.
// synchronous=FULL makes every commit durable (fsync of the WAL) before it returns, which is what
// lets the writer ack (invariant 1, docs/architecture.md).
// Thread-safe: call from any thread except a network shard.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite/db.hpp"
#include "store/sqlite/inbox.hpp"
#include "store/account_catalog.hpp"
#include "store/device_catalog.hpp"
#include "store/file_catalog.hpp"
#include "store/push_catalog.hpp"
#include "store/store.hpp"

namespace parley {

class SqliteStore final : public Store,
                            public AccountCatalog,
                            public FileCatalog,
                            public DeviceCatalog,
                            public PushCatalog {
 public:
  // path: database file (created with its directory's permissions); ":memory:" is not supported
  // because readers need their own connections to the same file.
  // cache_mib: the mover's page cache (the readers use SQLite's default).
  // max_unmoved_mib: acknowledged messages waiting to be moved, MiB of journal records, before
  // sends fail with `unavailable` (inbox.hpp).
  // move_interval: how long the mover lets committed rows gather before it moves them, unless
  // enough wait to move at once (tests lengthen it to see which moves happen without it).
  SqliteStore(const std::string& path, int reader_connections, int cache_mib = 32,
              int max_unmoved_mib = 256,
              std::chrono::milliseconds move_interval = std::chrono::milliseconds(200));
  ~SqliteStore() override;

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
  Status add_member(std::string_view conv, chat::UserId user, chat::Role role,
                    TimeMs now) override;
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

  // FileCatalog (sqlite_file_catalog.cpp).
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

  // DeviceCatalog (sqlite_device_catalog.cpp).
  Result<bool> put_device(const chat::DeviceKeys& keys, int max_devices) override;
  Result<std::int64_t> add_one_time_prekeys(chat::UserId user, std::string_view device,
                                            const std::vector<chat::OneTimePrekey>& keys,
                                            std::int64_t max_stored) override;
  Result<std::vector<chat::DeviceKeys>> devices_of(chat::UserId user, bool claim) override;
  Status remove_device(chat::UserId user, std::string_view device) override;

  // PushCatalog (sqlite_push_catalog.cpp).
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
  class ReaderLease;
  ReaderLease read();

  // The store's WAL is checkpointed by a thread of its own, from its own connection, with PASSIVE
  // checkpoints that never block a writer: a commit never waits for pages being copied into the
  // database file. The WAL hooks of the connections writing it wake the thread past
  // kCheckpointPages.
  void checkpoint_loop();
  static int on_wal_commit(void* store, sqlite3* db, const char* name, int pages);

  // Moves every row the inbox has committed into the store's messages, in one transaction that
  // also records how far it moved (inbox_moved.upto) and the log positions that came with them.
  // Takes write_mutex_; any thread.
  Status move_inbox();
  // At open: the rows of an inbox from before the journal (a SQLite table in PATH-inbox) go into
  // the store, and its files are deleted.
  void adopt_legacy_inbox(const std::string& path);
  // Before a read of conv's messages (or of every conversation's): moves what the inbox holds of
  // them, so the read sees every acknowledged message. Not under write_mutex_.
  Status settle(std::string_view conv);
  Status settle_all();
  void mover_loop();
  // c.last_seq counting the inbox's rows (a conversation row's last_seq moves with them).
  void with_inbox_last_seq(chat::Conversation& c) const;

  std::mutex write_mutex_;
  std::unique_ptr<sqlite::Db> writer_;
  std::unique_ptr<sqlite::Db> mover_;  // the store's second write connection; under write_mutex_
  // The push dispatcher's bookkeeping: WAL without fsync (synchronous = NORMAL), why in
  // sqlite_push_catalog.cpp; under write_mutex_.
  std::unique_ptr<sqlite::Db> bookkeeper_;
  std::int64_t inbox_moved_ = 0;       // inbox_moved.upto; under write_mutex_
  std::unique_ptr<sqlite::Inbox> inbox_;

  // The mover waits for the first unmoved row, then move_interval_ more (or until kMoveRows rows
  // or move_now_bytes_ of records are waiting), and moves them all.
  const std::chrono::milliseconds move_interval_;
  const std::size_t move_now_bytes_;  // half the inbox's bound: the other half is the headroom
  std::thread mover_thread_;
  std::mutex mover_mutex_;
  std::condition_variable mover_wake_;
  bool move_pending_ = false;  // under mover_mutex_, as the two below
  bool move_now_ = false;
  bool mover_stopping_ = false;

  std::unique_ptr<sqlite::Db> checkpointer_;
  std::thread checkpoint_thread_;
  std::mutex checkpoint_mutex_;
  std::condition_variable checkpoint_wanted_;
  bool checkpoint_due_ = false;  // under checkpoint_mutex_, as stopping_
  bool stopping_ = false;

  std::mutex readers_mutex_;
  std::condition_variable reader_free_;
  std::vector<std::unique_ptr<sqlite::Db>> readers_;  // idle read connections
};

}  // namespace parley
