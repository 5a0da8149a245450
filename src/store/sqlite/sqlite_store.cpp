#include "store/sqlite/sqlite_store.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <tuple>

#include "chat/rules.hpp"
#include "core/ids.hpp"
#include "core/logging.hpp"
#include "core/threads.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/reader_lease.hpp"
#include "store/sqlite/shared.hpp"

namespace parley {

using sqlite::Db;
using sqlite::Query;
using sqlite::read_message;
using sqlite::is_constraint;
using sqlite::storage_error;
using sqlite::write_transaction;
using namespace chat;

namespace {

#define PARLEY_CONVERSATION_COLUMNS                                                               \
  "c.id, c.kind, c.title, c.creator_id, coalesce(c.passcode_hash, ''), c.created_at, c.last_seq, " \
  "c.last_rev, c.e2ee"
// How many columns PARLEY_CONVERSATION_COLUMNS reads: a query's own columns come after them.
constexpr int kConversationColumns = 9;

Conversation read_conversation(const Query& q, int col) {
  Conversation c;
  c.id = q.text(col);
  c.kind = q.text(col + 1) == "direct" ? ConvKind::direct : ConvKind::group;
  c.title = q.text(col + 2);
  c.creator_id = q.i64(col + 3);
  c.passcode_hash = q.text(col + 4);
  c.created_at = q.i64(col + 5);
  c.last_seq = q.i64(col + 6);
  c.last_rev = q.i64(col + 7);
  c.e2ee = q.i64(col + 8) != 0;
  return c;
}

#define PARLEY_USER_COLUMNS                                                                   \
  "id, coalesce(username, ''), name, created_at, last_seen_at, coalesce(email, ''), "         \
  "coalesce(image, ''), provider, coalesce(oauth_id, '')"
constexpr int kUserColumns = 9;

User read_user(const Query& q, int col) {
  User u;
  u.id = q.i64(col);
  u.username = q.text(col + 1);
  u.name = q.text(col + 2);
  u.created_at = q.i64(col + 3);
  u.last_seen_at = q.opt_i64(col + 4);
  u.email = q.text(col + 5);
  u.image = q.text(col + 6);
  u.provider = q.text(col + 7);
  u.oauth_id = q.text(col + 8);
  return u;
}

Result<Conversation> load_conversation(Db& db, std::string_view id) {
  Query q(db, "SELECT " PARLEY_CONVERSATION_COLUMNS " FROM conversations c WHERE c.id = ?");
  q.bind(1, id);
  if (q.step()) return read_conversation(q, 0);
  if (q.failed()) return storage_error(db, "get_conversation");
  return make_error(Errc::not_found, "no such conversation");
}

// The rows of a read with one integer parameter (a user id, a time), each made by read_row; or
// the logged storage error.
template <class Row, class ReadRow>
Result<std::vector<Row>> read_rows(Db& db, std::string_view op, const char* sql,
                                   std::int64_t param, ReadRow read_row) {
  Query q(db, sql);
  q.bind(1, param);
  std::vector<Row> rows;
  while (q.step()) rows.push_back(read_row(q));
  if (q.failed()) return storage_error(db, op);
  return rows;
}

}  // namespace

// ---- connections ---------------------------------------------------------------------------

SqliteStore::ReaderLease SqliteStore::read() {
  std::unique_lock lock(readers_mutex_);
  reader_free_.wait(lock, [this] { return !readers_.empty(); });
  auto db = std::move(readers_.back());
  readers_.pop_back();
  return ReaderLease(*this, std::move(db));
}

namespace {
// Checkpoint every 64 MiB of WAL (16,384 pages of 4 KiB), not SQLite's 4 MiB: pages many commits
// touch (busy conversations' newest messages and index pages) are copied into the database once
// per checkpoint (docs/operations.md, "Checkpoints").
constexpr int kCheckpointPages = 16384;

// The mover (docs/operations.md, "The inbox"): rows wait in the inbox at most about the move
// interval (200 ms), less when kMoveRows rows or half the inbox's bound in bytes are waiting.
// Larger batches write each conversation's pages once for more messages; the wait bounds the
// inbox's size and the memory that tracks it. Moving at half the bound leaves the other half for
// what arrives during the move, so large messages do not reach the bound (and sends refused)
// while the mover still waits out its interval.
constexpr std::size_t kMoveRows = 32768;

std::size_t inbox_bound_bytes(int max_unmoved_mib) {
  return std::size_t(std::max(1, max_unmoved_mib)) << 20;
}
}  // namespace

SqliteStore::SqliteStore(const std::string& path, int reader_connections, int cache_mib,
                         int max_unmoved_mib, std::chrono::milliseconds move_interval)
    : move_interval_(move_interval),
      move_now_bytes_(inbox_bound_bytes(max_unmoved_mib) / 2) {
  writer_ = std::make_unique<Db>(path, false);
  sqlite::open_for_writing(*writer_);
  sqlite::cache_pages(*writer_, "main", 2);
  writer_->exec("PRAGMA foreign_keys = ON");
  sqlite::migrate(*writer_);
  mover_ = std::make_unique<Db>(path, false);
  sqlite::open_for_writing(*mover_);
  sqlite::cache_pages(*mover_, "main", cache_mib);
  bookkeeper_ = std::make_unique<Db>(path, false);
  sqlite::open_for_writing(*bookkeeper_, sqlite::Commits::unsynced);
  bookkeeper_->exec("PRAGMA foreign_keys = ON");
  sqlite::cache_pages(*bookkeeper_, "main", 2);
  adopt_legacy_inbox(path);
  {
    Query q(*writer_, "SELECT upto FROM inbox_moved");
    if (!q.step()) throw std::runtime_error("SQLite: cannot read inbox_moved: " + q.error());
    inbox_moved_ = q.i64(0);
  }
  inbox_ = std::make_unique<sqlite::Inbox>(path, inbox_moved_, std::max(1, cache_mib / 2),
                                          inbox_bound_bytes(max_unmoved_mib));
  // Recovery: acknowledged rows a previous run had not moved yet go into the store now, before
  // anything reads it.
  if (!move_inbox().ok()) throw std::runtime_error("SQLite: cannot move the inbox into the store");

  // Checkpoints: see checkpoint_loop. The hooks replace SQLite's automatic checkpoints.
  checkpointer_ = std::make_unique<Db>(path, false);
  checkpointer_->exec("PRAGMA synchronous = FULL");  // fsync the file after copying
  sqlite3_wal_hook(writer_->handle(), &SqliteStore::on_wal_commit, this);
  sqlite3_wal_hook(mover_->handle(), &SqliteStore::on_wal_commit, this);
  sqlite3_wal_hook(bookkeeper_->handle(), &SqliteStore::on_wal_commit, this);
  for (int i = 0; i < std::max(1, reader_connections); ++i) {
    auto reader = std::make_unique<Db>(path, true);
    reader->exec("PRAGMA mmap_size = 268435456");
    readers_.push_back(std::move(reader));
  }
  // Last: nothing throws after.
  checkpoint_thread_ = named_thread("store-checkpt", [this] { checkpoint_loop(); });
  mover_thread_ = named_thread("store-mover", [this] { mover_loop(); });
}

SqliteStore::~SqliteStore() {
  {
    std::lock_guard lock(mover_mutex_);
    mover_stopping_ = true;
  }
  mover_wake_.notify_one();
  mover_thread_.join();
  // Leaves no journal behind when it can (the next start reads nothing); recovery moves what a
  // failed move leaves.
  if (move_inbox().ok()) inbox_->close();
  {
    std::lock_guard lock(checkpoint_mutex_);
    stopping_ = true;
  }
  checkpoint_wanted_.notify_one();
  checkpoint_thread_.join();
}

int SqliteStore::on_wal_commit(void* store, sqlite3*, const char*, int pages) {
  if (pages >= kCheckpointPages) {
    auto* self = static_cast<SqliteStore*>(store);
    {
      std::lock_guard lock(self->checkpoint_mutex_);
      self->checkpoint_due_ = true;
    }
    self->checkpoint_wanted_.notify_one();
  }
  return SQLITE_OK;
}

void SqliteStore::checkpoint_loop() {
  for (;;) {
    {
      std::unique_lock lock(checkpoint_mutex_);
      checkpoint_wanted_.wait(lock, [this] { return checkpoint_due_ || stopping_; });
      if (stopping_) return;
      checkpoint_due_ = false;
    }
    // PASSIVE: copies what no reader still needs, without waiting for anyone; writers go on
    // committing meanwhile and start the WAL over once a checkpoint has caught up.
    int wal_pages = 0, copied = 0;
    const int rc = sqlite3_wal_checkpoint_v2(checkpointer_->handle(), nullptr,
                                             SQLITE_CHECKPOINT_PASSIVE, &wal_pages, &copied);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      log::warn("event=checkpoint_failed error=\"{}\"", checkpointer_->last_error());
    }
  }
}

// ---- the inbox -----------------------------------------------------------------------------

Status SqliteStore::move_inbox() {
  const sqlite::Inbox::Unmoved unmoved = inbox_->unmoved();
  std::int64_t moved = 0;
  {
    std::lock_guard lock(write_mutex_);
    if (unmoved.head > inbox_moved_) {
      // In conversation order: each conversation's new rows go into its pages one after another.
      // A batch is moved whole, so one the last move took has last_id <= inbox_moved_.
      std::vector<const Message*> rows;
      std::vector<const LogPosition*> positions;  // oldest first: the last of a partition stays
      for (const auto& batch : unmoved.batches) {
        if (batch->last_id <= inbox_moved_) continue;
        for (const Message& m : batch->rows) rows.push_back(&m);
        for (const LogPosition& p : batch->positions) positions.push_back(&p);
      }
      std::sort(rows.begin(), rows.end(), [](const Message* a, const Message* b) {
        return std::tie(a->conv, a->seq) < std::tie(b->conv, b->seq);
      });
      Db& db = *mover_;
      if (!db.try_exec("BEGIN IMMEDIATE")) return storage_error(db, "move_inbox");
      auto fail = [&] {
        auto err = storage_error(db, "move_inbox");
        db.try_exec("ROLLBACK");
        return err;
      };
      for (std::size_t i = 0; i < rows.size(); ++i) {
        const Message& m = *rows[i];
        Query insert(db, "INSERT INTO messages(conversation_id, seq, id, sender_id, client_msg_id, "
                         "body, reply_to, created_at, attachments) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
        insert.bind(1, m.conv).bind(2, m.seq).bind(3, m.id).bind(4, m.sender_id)
            .bind(5, m.client_msg_id).bind(6, m.body).bind(7, m.reply_to).bind(8, m.ts)
            .bind(9, sqlite::attachments_column(m.attachments));
        if (insert.step(), insert.failed()) return fail();
        // The conversation's last row: its last_seq moves in the same transaction.
        if (i + 1 == rows.size() || rows[i + 1]->conv != m.conv) {
          Query last(db, "UPDATE conversations SET last_seq = ? WHERE id = ?");
          last.bind(1, m.seq).bind(2, m.conv);
          if (last.step(), last.failed()) return fail();
        }
      }
      for (const LogPosition* p : positions) {
        Query q(db, "INSERT INTO log_positions(topic, partition, next_offset) VALUES(?, ?, ?) "
                    "ON CONFLICT(topic, partition) DO UPDATE "
                    "SET next_offset = excluded.next_offset");
        q.bind(1, p->topic).bind(2, std::int64_t{p->partition}).bind(3, p->to);
        if (q.step(), q.failed()) return fail();
      }
      Query upto(db, "UPDATE inbox_moved SET upto = ?");
      upto.bind(1, unmoved.head);
      if (upto.step(), upto.failed()) return fail();
      if (!db.try_exec("COMMIT")) return fail();
      inbox_moved_ = unmoved.head;
    }
    moved = inbox_moved_;
  }
  inbox_->moved(moved);
  return ok_status();
}

void SqliteStore::adopt_legacy_inbox(const std::string& path) {
  const std::string legacy = sqlite::Inbox::legacy_path(path);
  if (::access(legacy.c_str(), F_OK) != 0) return;
  Db& db = *mover_;
  {
    Query q(db, "ATTACH DATABASE ? AS legacy");
    q.bind(1, legacy);
    if (q.step(), q.failed()) {
      throw std::runtime_error("SQLite: cannot attach " + legacy + ": " + q.error());
    }
  }
  // Its schema (user_version 1): inbox(row_id, conversation_id, seq, id, sender_id,
  // client_msg_id, body, reply_to, created_at) and log_positions(topic, partition, next_offset).
  db.exec(R"sql(
BEGIN IMMEDIATE;
INSERT INTO messages(conversation_id, seq, id, sender_id, client_msg_id, body, reply_to, created_at)
  SELECT conversation_id, seq, id, sender_id, client_msg_id, body, reply_to, created_at
  FROM legacy.inbox WHERE row_id > (SELECT upto FROM inbox_moved) ORDER BY conversation_id, seq;
UPDATE conversations SET last_seq = moved.seq FROM
  (SELECT conversation_id, max(seq) AS seq FROM legacy.inbox
   WHERE row_id > (SELECT upto FROM inbox_moved) GROUP BY conversation_id) AS moved
  WHERE conversations.id = moved.conversation_id;
INSERT INTO log_positions(topic, partition, next_offset)
  SELECT topic, partition, next_offset FROM legacy.log_positions WHERE true
  ON CONFLICT(topic, partition) DO NOTHING;
UPDATE inbox_moved SET upto = max(upto, (SELECT coalesce(max(row_id), 0) FROM legacy.inbox));
COMMIT;
DETACH DATABASE legacy;
)sql");
  // Adopting it again would be harmless (its rows are at or below upto, and positions already
  // stored are kept), so a file left behind is only logged.
  for (const char* suffix : {"-wal", "-shm", ""}) {
    const std::string file = legacy + suffix;
    if (std::remove(file.c_str()) != 0 && errno != ENOENT) {
      log::warn("event=legacy_inbox_not_removed file={} error=\"{}\"", file, std::strerror(errno));
    }
  }
  log::info("event=legacy_inbox_adopted file={}", legacy);
}

Status SqliteStore::settle(std::string_view conv) {
  return inbox_->has_unmoved(conv) ? move_inbox() : ok_status();
}

Status SqliteStore::settle_all() {
  return inbox_->backlog().batches > 0 ? move_inbox() : ok_status();
}

void SqliteStore::mover_loop() {
  std::unique_lock lock(mover_mutex_);
  for (;;) {
    mover_wake_.wait(lock, [this] { return move_pending_ || mover_stopping_; });
    mover_wake_.wait_for(lock, move_interval_, [this] { return move_now_ || mover_stopping_; });
    if (mover_stopping_) return;  // the destructor moves what is left
    move_pending_ = move_now_ = false;
    lock.unlock();
    const bool moved = move_inbox().ok();
    lock.lock();
    // A failure is logged; the rows stay in the inbox, and the next round tries again.
    if (!moved) move_pending_ = true;
  }
}

// ---- users ---------------------------------------------------------------------------------

Result<User> SqliteStore::create_user(std::string_view username, std::string_view password_hash,
                                      TimeMs now) {
  return write_transaction(write_mutex_, *writer_, "create_user", [&]() -> Result<User> {
    Query q(*writer_,
            "INSERT INTO users(username, name, provider, password_hash, created_at) "
            "VALUES(?, ?, 'password', ?, ?) RETURNING " PARLEY_USER_COLUMNS);
    q.bind(1, username).bind(2, username).bind(3, password_hash).bind(4, now);
    if (q.step()) {
      auto user = read_user(q, 0);
      while (q.step()) {
      }
      return user;
    }
    if (is_constraint(q)) return make_error(Errc::conflict, "username is taken");
    return storage_error(*writer_, "create_user");
  });
}

Result<UserCredentials> SqliteStore::find_credentials(std::string_view username) {
  auto lease = read();
  Query q(*lease, "SELECT " PARLEY_USER_COLUMNS ", coalesce(password_hash, '') FROM users "
                  "WHERE username = ?");
  q.bind(1, username);
  if (q.step()) return UserCredentials{read_user(q, 0), q.text(kUserColumns)};
  if (q.failed()) return storage_error(*lease, "find_credentials");
  return make_error(Errc::not_found, "no such user");
}

Result<User> SqliteStore::find_user(std::string_view username) {
  auto lease = read();
  Query q(*lease, "SELECT " PARLEY_USER_COLUMNS " FROM users WHERE username = ?");
  q.bind(1, username);
  if (q.step()) return read_user(q, 0);
  if (q.failed()) return storage_error(*lease, "find_user");
  return make_error(Errc::not_found, "no such user");
}

Result<User> SqliteStore::get_user(UserId id) {
  auto lease = read();
  Query q(*lease, "SELECT " PARLEY_USER_COLUMNS " FROM users WHERE id = ?");
  q.bind(1, id);
  if (q.step()) return read_user(q, 0);
  if (q.failed()) return storage_error(*lease, "get_user");
  return make_error(Errc::not_found, "no such user");
}

// ---- login sessions ------------------------------------------------------------------------

Result<SessionId> SqliteStore::create_session(UserId user, std::string_view device,
                                              std::string_view provider,
                                              std::string_view refresh_hash, TimeMs now) {
  return write_transaction(write_mutex_, *writer_, "create_session", [&]() -> Result<SessionId> {
    Query q(*writer_,
            "INSERT INTO sessions(user_id, device, provider, refresh_hash, created_at, "
            "last_used_at) VALUES(?, ?, ?, ?, ?, ?)");
    q.bind(1, user).bind(2, device).bind(3, provider).bind(4, refresh_hash).bind(5, now).bind(6, now);
    q.step();
    if (q.failed()) return storage_error(*writer_, "create_session");
    return SessionId{sqlite3_last_insert_rowid(writer_->handle())};
  });
}

Result<LoginSession> SqliteStore::rotate_refresh(std::string_view old_hash,
                                                 std::string_view new_hash, TimeMs now,
                                                 TimeMs min_last_used) {
  return write_transaction(write_mutex_, *writer_, "rotate_refresh", [&]() -> Result<LoginSession> {
    Query q(*writer_,
            "UPDATE sessions SET refresh_hash = ?, last_used_at = ? "
            "WHERE refresh_hash = ? AND revoked_at IS NULL AND last_used_at >= ? "
            "RETURNING id, user_id, (SELECT username FROM users WHERE users.id = user_id)");
    q.bind(1, new_hash).bind(2, now).bind(3, old_hash).bind(4, min_last_used);
    if (q.step()) {
      LoginSession s{q.i64(0), q.i64(1), q.text(2)};
      while (q.step()) {
      }
      return s;
    }
    if (q.failed()) return storage_error(*writer_, "rotate_refresh");
    return make_error(Errc::not_found, "refresh token is unknown, expired or revoked");
  });
}

Status SqliteStore::revoke_session(UserId user, SessionId id, TimeMs now) {
  return write_transaction(write_mutex_, *writer_, "revoke_session", [&]() -> Status {
    Query q(*writer_,
            "UPDATE sessions SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL");
    q.bind(1, now).bind(2, id).bind(3, user);
    q.step();
    if (q.failed()) return storage_error(*writer_, "revoke_session");
    if (sqlite3_changes(writer_->handle()) == 0) {
      return make_error(Errc::not_found, "no such session");
    }
    return ok_status();
  });
}

Result<std::vector<SessionId>> SqliteStore::revoke_all_sessions(UserId user, TimeMs now) {
  return write_transaction(write_mutex_, *writer_, "revoke_all_sessions",
                           [&]() -> Result<std::vector<SessionId>> {
    Query q(*writer_,
            "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL "
            "RETURNING id");
    q.bind(1, now).bind(2, user);
    std::vector<SessionId> ids;
    while (q.step()) ids.push_back(q.i64(0));
    if (q.failed()) return storage_error(*writer_, "revoke_all_sessions");
    return ids;
  });
}

Result<std::vector<LoginSessionInfo>> SqliteStore::sessions_of(UserId user, TimeMs min_last_used) {
  auto lease = read();
  Query q(*lease,
          "SELECT id, device, provider, created_at, last_used_at FROM sessions "
          "WHERE user_id = ? AND revoked_at IS NULL AND last_used_at >= ? "
          "ORDER BY last_used_at DESC, id DESC LIMIT 1000");
  q.bind(1, user).bind(2, min_last_used);
  std::vector<LoginSessionInfo> out;
  while (q.step()) out.push_back({q.i64(0), q.text(1), q.text(2), q.i64(3), q.i64(4)});
  if (q.failed()) return storage_error(*lease, "sessions_of");
  return out;
}

Result<std::vector<SessionId>> SqliteStore::sessions_revoked_since(TimeMs since) {
  auto lease = read();
  return read_rows<SessionId>(*lease, "sessions_revoked_since",
                              "SELECT id FROM sessions WHERE revoked_at >= ?", since,
                              [](const Query& q) { return q.i64(0); });
}

// ---- external identities -------------------------------------------------------------------

Result<std::optional<UserId>> SqliteStore::find_identity(std::string_view provider,
                                                         std::string_view subject) {
  auto lease = read();
  Query q(*lease, "SELECT user_id FROM identities WHERE provider = ? AND subject = ?");
  q.bind(1, provider).bind(2, subject);
  if (q.step()) return std::optional<UserId>(q.i64(0));
  if (q.failed()) return storage_error(*lease, "find_identity");
  return std::optional<UserId>();
}

Result<std::optional<UserId>> SqliteStore::find_user_by_email(std::string_view email) {
  auto lease = read();
  Query q(*lease, "SELECT id FROM users WHERE email = ?");
  q.bind(1, email);
  if (q.step()) return std::optional<UserId>(q.i64(0));
  if (q.failed()) return storage_error(*lease, "find_user_by_email");
  return std::optional<UserId>();
}

Result<User> SqliteStore::create_external_user(const ExternalProfile& p, TimeMs now) {
  return write_transaction(write_mutex_, *writer_, "create_external_user", [&]() -> Result<User> {
    auto exists = [&](const char* sql, std::string_view a, std::string_view b = {}) {
      Query q(*writer_, sql);
      q.bind(1, a);
      if (!b.empty()) q.bind(2, b);
      return q.step();
    };
    // Another node may have made the account since the caller looked: that one stands.
    {
      Query q(*writer_, "SELECT " PARLEY_USER_COLUMNS " FROM users WHERE id = "
                        "(SELECT user_id FROM identities WHERE provider = ? AND subject = ?)");
      q.bind(1, p.provider).bind(2, p.subject);
      if (q.step()) return read_user(q, 0);
    }
    std::string username;
    for (const auto& candidate : chat::username_candidates(p.username_hint)) {
      if (!exists("SELECT 1 FROM users WHERE username = ?", candidate)) {
        username = candidate;
        break;
      }
    }
    if (username.empty()) return make_error(Errc::conflict, "no free username for this profile");
    const bool email_free =
        !p.email.empty() && !exists("SELECT 1 FROM users WHERE email = ?", p.email);
    Query q(*writer_,
            "INSERT INTO users(username, name, email, image, provider, oauth_id, created_at) "
            "VALUES(?, ?, ?, ?, ?, ?, ?) RETURNING " PARLEY_USER_COLUMNS);
    q.bind(1, username).bind(2, p.name.empty() ? username : p.name);
    if (email_free) q.bind(3, p.email);
    if (!p.image.empty()) q.bind(4, p.image);
    q.bind(5, p.provider).bind(6, p.subject).bind(7, now);
    if (!q.step()) return storage_error(*writer_, "create_external_user");
    auto user = read_user(q, 0);
    while (q.step()) {
    }
    Query link(*writer_,
               "INSERT INTO identities(provider, subject, user_id, created_at) VALUES(?, ?, ?, ?)");
    link.bind(1, p.provider).bind(2, p.subject).bind(3, user.id).bind(4, now);
    link.step();
    if (link.failed()) return storage_error(*writer_, "create_external_user");
    return user;
  });
}

Status SqliteStore::link_identity(UserId user, std::string_view provider, std::string_view subject,
                                  TimeMs now) {
  return write_transaction(write_mutex_, *writer_, "link_identity", [&]() -> Status {
    Query q(*writer_,
            "INSERT INTO identities(provider, subject, user_id, created_at) VALUES(?, ?, ?, ?)");
    q.bind(1, provider).bind(2, subject).bind(3, user).bind(4, now);
    q.step();
    if (is_constraint(q)) return make_error(Errc::conflict, "identity is linked already");
    if (q.failed()) return storage_error(*writer_, "link_identity");
    return ok_status();
  });
}

// ---- second factors ------------------------------------------------------------------------

Result<std::optional<SecondFactor>> SqliteStore::second_factor(UserId user) {
  auto lease = read();
  Query q(*lease, "SELECT secret, confirmed, last_step FROM second_factors WHERE user_id = ?");
  q.bind(1, user);
  if (q.step()) return std::optional<SecondFactor>(SecondFactor{q.text(0), q.i64(1) != 0, q.i64(2)});
  if (q.failed()) return storage_error(*lease, "second_factor");
  return std::optional<SecondFactor>();
}

Status SqliteStore::begin_second_factor(UserId user, std::string_view secret, TimeMs now) {
  return write_transaction(write_mutex_, *writer_, "begin_second_factor", [&]() -> Status {
    Query q(*writer_,
            "INSERT INTO second_factors(user_id, secret, created_at) VALUES(?, ?, ?) "
            "ON CONFLICT(user_id) DO UPDATE SET secret = excluded.secret, "
            "created_at = excluded.created_at WHERE second_factors.confirmed = 0");
    q.bind(1, user).bind(2, secret).bind(3, now);
    q.step();
    if (q.failed()) return storage_error(*writer_, "begin_second_factor");
    if (sqlite3_changes(writer_->handle()) == 0) {
      return make_error(Errc::conflict, "a second factor is on already: disable it first");
    }
    return ok_status();
  });
}

Status SqliteStore::confirm_second_factor(UserId user, std::int64_t step,
                                          const std::vector<std::string>& recovery_hashes) {
  return write_transaction(write_mutex_, *writer_, "confirm_second_factor", [&]() -> Status {
    Query q(*writer_,
            "UPDATE second_factors SET confirmed = 1, last_step = ? "
            "WHERE user_id = ? AND confirmed = 0");
    q.bind(1, step).bind(2, user);
    q.step();
    if (q.failed()) return storage_error(*writer_, "confirm_second_factor");
    if (sqlite3_changes(writer_->handle()) == 0) {
      return make_error(Errc::not_found, "no second factor waits to be confirmed");
    }
    Query clear(*writer_, "DELETE FROM recovery_codes WHERE user_id = ?");
    clear.bind(1, user);
    clear.step();
    for (const auto& hash : recovery_hashes) {
      Query add(*writer_, "INSERT INTO recovery_codes(user_id, code_hash) VALUES(?, ?)");
      add.bind(1, user).bind(2, hash);
      add.step();
      if (add.failed()) return storage_error(*writer_, "confirm_second_factor");
    }
    return ok_status();
  });
}

Result<bool> SqliteStore::use_totp_step(UserId user, std::int64_t step) {
  return write_transaction(write_mutex_, *writer_, "use_totp_step", [&]() -> Result<bool> {
    Query q(*writer_,
            "UPDATE second_factors SET last_step = ? "
            "WHERE user_id = ? AND confirmed = 1 AND last_step < ?");
    q.bind(1, step).bind(2, user).bind(3, step);
    q.step();
    if (q.failed()) return storage_error(*writer_, "use_totp_step");
    return sqlite3_changes(writer_->handle()) > 0;
  });
}

Result<bool> SqliteStore::use_recovery_code(UserId user, std::string_view hash, TimeMs now) {
  return write_transaction(write_mutex_, *writer_, "use_recovery_code", [&]() -> Result<bool> {
    Query q(*writer_,
            "UPDATE recovery_codes SET used_at = ? "
            "WHERE user_id = ? AND code_hash = ? AND used_at IS NULL");
    q.bind(1, now).bind(2, user).bind(3, hash);
    q.step();
    if (q.failed()) return storage_error(*writer_, "use_recovery_code");
    return sqlite3_changes(writer_->handle()) > 0;
  });
}

Status SqliteStore::remove_second_factor(UserId user) {
  return write_transaction(write_mutex_, *writer_, "remove_second_factor", [&]() -> Status {
    for (const char* sql : {"DELETE FROM second_factors WHERE user_id = ?",
                            "DELETE FROM recovery_codes WHERE user_id = ?"}) {
      Query q(*writer_, sql);
      q.bind(1, user);
      q.step();
      if (q.failed()) return storage_error(*writer_, "remove_second_factor");
    }
    return ok_status();
  });
}

// ---- conversations -------------------------------------------------------------------------

Result<Conversation> SqliteStore::get_or_create_direct(UserId a, UserId b, const ConvId& new_id,
                                                       TimeMs now, bool e2ee) {
  const auto key = direct_key(a, b);
  auto conversation = write_transaction(write_mutex_, *writer_, "get_or_create_direct",
                           [&]() -> Result<Conversation> {
    {
      Query q(*writer_, "SELECT " PARLEY_CONVERSATION_COLUMNS
                        " FROM conversations c WHERE c.direct_key = ?");
      q.bind(1, key);
      if (q.step()) return read_conversation(q, 0);
      if (q.failed()) return storage_error(*writer_, "get_or_create_direct");
    }
    {
      Query q(*writer_,
              "INSERT INTO conversations(id, kind, creator_id, direct_key, created_at, e2ee) "
              "VALUES(?, 'direct', ?, ?, ?, ?)");
      q.bind(1, new_id).bind(2, a).bind(3, key).bind(4, now).bind(5, std::int64_t{e2ee});
      q.step();
      if (q.failed()) return storage_error(*writer_, "get_or_create_direct");
    }
    for (UserId user : {a, b}) {
      Query q(*writer_,
              "INSERT INTO members(conversation_id, user_id, role, joined_at) "
              "VALUES(?, ?, 'member', ?)");
      q.bind(1, new_id).bind(2, user).bind(3, now);
      q.step();
      if (q.failed()) return storage_error(*writer_, "get_or_create_direct");
    }
    return load_conversation(*writer_, new_id);
  });
  if (conversation) with_inbox_last_seq(*conversation);
  return conversation;
}

Result<std::optional<ConvId>> SqliteStore::find_direct(UserId a, UserId b) {
  auto lease = read();
  const auto key = direct_key(a, b);
  Query q(*lease, "SELECT id FROM conversations WHERE direct_key = ?");
  q.bind(1, key);
  if (q.step()) return std::optional<ConvId>(q.text(0));
  if (q.failed()) return storage_error(*lease, "find_direct");
  return std::optional<ConvId>();
}

Result<Conversation> SqliteStore::create_group(const NewGroup& g) {
  return write_transaction(write_mutex_, *writer_, "create_group", [&]() -> Result<Conversation> {
    {
      Query q(*writer_,
              "INSERT INTO conversations(id, kind, title, creator_id, passcode_hash, created_at, "
              "e2ee) VALUES(?, 'group', ?, ?, ?, ?, ?)");
      q.bind(1, g.id).bind(2, g.title).bind(3, g.creator_id).bind(5, g.now)
          .bind(6, std::int64_t{g.e2ee});
      if (g.passcode_hash.empty()) {
        q.bind_null(4);
      } else {
        q.bind(4, g.passcode_hash);
      }
      q.step();
      if (q.failed()) return storage_error(*writer_, "create_group");
    }
    auto insert_member = [&](UserId user, std::string_view role) {
      Query q(*writer_,
              "INSERT OR IGNORE INTO members(conversation_id, user_id, role, joined_at) "
              "VALUES(?, ?, ?, ?)");
      q.bind(1, g.id).bind(2, user).bind(3, role).bind(4, g.now);
      q.step();
      return !q.failed();
    };
    if (!insert_member(g.creator_id, "owner")) return storage_error(*writer_, "create_group");
    for (UserId user : g.members) {
      if (!insert_member(user, "member")) return storage_error(*writer_, "create_group");
    }
    return load_conversation(*writer_, g.id);
  });
}

Result<Conversation> SqliteStore::get_conversation(std::string_view id) {
  auto conversation = [&] {
    auto lease = read();
    return load_conversation(*lease, id);
  }();
  if (conversation) with_inbox_last_seq(*conversation);
  return conversation;
}

void SqliteStore::with_inbox_last_seq(Conversation& c) const {
  c.last_seq = std::max(c.last_seq, inbox_->unmoved_last_seq(c.id));
}

Result<std::vector<Member>> SqliteStore::members(std::string_view conv) {
  auto lease = read();
  Query q(*lease,
          "SELECT m.user_id, coalesce(u.username, ''), m.role, m.joined_at, m.joined_seq, "
          "m.delivered_seq, m.read_seq FROM members m JOIN users u ON u.id = m.user_id "
          "WHERE m.conversation_id = ? ORDER BY m.joined_at, m.user_id");
  q.bind(1, conv);
  std::vector<Member> out;
  while (q.step()) {
    Member m;
    m.user_id = q.i64(0);
    m.username = q.text(1);
    m.role = role_from_string(q.text(2)).value_or(Role::member);
    m.joined_at = q.i64(3);
    m.joined_seq = q.i64(4);
    m.delivered_seq = q.i64(5);
    m.read_seq = q.i64(6);
    out.push_back(std::move(m));
  }
  if (q.failed()) return storage_error(*lease, "members");
  return out;
}

Status SqliteStore::add_member(std::string_view conv, UserId user, Role role, TimeMs now) {
  return write_transaction(write_mutex_, *writer_, "add_member", [&]() -> Status {
    Query q(*writer_,
            "INSERT INTO members(conversation_id, user_id, role, joined_at, joined_seq) "
            "SELECT id, ?, ?, ?, max(last_seq, ?) FROM conversations WHERE id = ?");
    q.bind(1, user).bind(2, to_string(role)).bind(3, now).bind(4, inbox_->unmoved_last_seq(conv))
        .bind(5, conv);
    q.step();
    if (is_constraint(q)) return make_error(Errc::conflict, "already a member");
    if (q.failed()) return storage_error(*writer_, "add_member");
    if (sqlite3_changes(writer_->handle()) == 0) {
      return make_error(Errc::not_found, "no such conversation");
    }
    Query back(*writer_, "DELETE FROM departures WHERE conversation_id = ? AND user_id = ?");
    back.bind(1, conv).bind(2, user);
    back.step();
    if (back.failed()) return storage_error(*writer_, "add_member");
    return ok_status();
  });
}

Status SqliteStore::remove_member(std::string_view conv, UserId user, TimeMs now) {
  return write_transaction(write_mutex_, *writer_, "remove_member", [&]() -> Status {
    std::string role;
    {
      Query q(*writer_,
              "DELETE FROM members WHERE conversation_id = ? AND user_id = ? RETURNING role");
      q.bind(1, conv).bind(2, user);
      if (!q.step()) {
        if (q.failed()) return storage_error(*writer_, "remove_member");
        return make_error(Errc::not_found, "not a member");
      }
      role = q.text(0);
      while (q.step()) {
      }
    }
    {
      Query q(*writer_, "INSERT OR REPLACE INTO departures(conversation_id, user_id, left_at) "
                        "VALUES(?, ?, ?)");
      q.bind(1, conv).bind(2, user).bind(3, now);
      q.step();
      if (q.failed()) return storage_error(*writer_, "remove_member");
    }
    if (role == "owner") {
      // Hand the group to the longest-standing admin, else the longest-standing member.
      Query q(*writer_,
              "UPDATE members SET role = 'owner' WHERE conversation_id = ?1 AND user_id = "
              "(SELECT user_id FROM members WHERE conversation_id = ?1 "
              " ORDER BY role = 'admin' DESC, joined_at, user_id LIMIT 1)");
      q.bind(1, conv);
      q.step();
      if (q.failed()) return storage_error(*writer_, "remove_member");
    }
    return ok_status();
  });
}

Result<std::vector<ConversationSummary>> SqliteStore::conversations_of(UserId user) {
  // The unread counts and last messages come from the messages themselves.
  if (auto moved = settle_all(); !moved) return moved.error();
  auto lease = read();
  Query q(*lease,
          "SELECT " PARLEY_CONVERSATION_COLUMNS ", mm.role, mm.read_seq, mm.delivered_seq, mm.joined_seq, "
          " (SELECT count(*) FROM messages x WHERE x.conversation_id = c.id "
          "   AND x.seq > mm.read_seq AND x.sender_id <> mm.user_id AND x.deleted_at IS NULL), "
          " (SELECT pu.username FROM members p JOIN users pu ON pu.id = p.user_id "
          "   WHERE c.kind = 'direct' AND p.conversation_id = c.id AND p.user_id <> mm.user_id), "
          " m.seq IS NOT NULL, " PARLEY_MESSAGE_COLUMNS
          " FROM members mm JOIN conversations c ON c.id = mm.conversation_id "
          " LEFT JOIN messages m ON m.conversation_id = c.id AND m.seq = c.last_seq "
          " LEFT JOIN users u ON u.id = m.sender_id "
          " WHERE mm.user_id = ? ORDER BY coalesce(m.created_at, c.created_at) DESC, c.id");
  q.bind(1, user);
  std::vector<ConversationSummary> out;
  while (q.step()) {
    ConversationSummary s;
    s.conversation = read_conversation(q, 0);
    constexpr int k = kConversationColumns;
    s.role = role_from_string(q.text(k)).value_or(Role::member);
    s.read_seq = q.i64(k + 1);
    s.delivered_seq = q.i64(k + 2);
    s.joined_seq = q.i64(k + 3);
    s.unread = q.i64(k + 4);
    s.peer = q.text(k + 5);
    if (q.i64(k + 6)) s.last_message = read_message(q, k + 7, s.conversation.id);
    out.push_back(std::move(s));
  }
  if (q.failed()) return storage_error(*lease, "conversations_of");
  return out;
}

Result<std::vector<Departure>> SqliteStore::departures_of(UserId user) {
  auto lease = read();
  return read_rows<Departure>(*lease, "departures_of",
                              "SELECT conversation_id, left_at FROM departures WHERE user_id = ? "
                              "ORDER BY left_at DESC LIMIT 200",
                              user, [](const Query& q) { return Departure{q.text(0), q.i64(1)}; });
}

Result<std::vector<UserId>> SqliteStore::contacts_of(UserId user) {
  auto lease = read();
  return read_rows<UserId>(*lease, "contacts_of",
                           "SELECT DISTINCT other.user_id FROM members mine "
                           "JOIN members other ON other.conversation_id = mine.conversation_id "
                           "WHERE mine.user_id = ?1 AND other.user_id <> ?1",
                           user, [](const Query& q) { return q.i64(0); });
}

Result<std::vector<ConvId>> SqliteStore::groups_of(UserId user) {
  auto lease = read();
  return read_rows<ConvId>(*lease, "groups_of",
                           "SELECT m.conversation_id FROM members m "
                           "JOIN conversations c ON c.id = m.conversation_id "
                           "WHERE m.user_id = ?1 AND c.kind = 'group'",
                           user, [](const Query& q) { return q.text(0); });
}

Result<std::pair<Cursors, bool>> SqliteStore::advance_cursors(std::string_view conv, UserId user,
                                                              Seq delivered, Seq read_up_to) {
  return write_transaction(write_mutex_, *writer_, "advance_cursors",
                           [&]() -> Result<std::pair<Cursors, bool>> {
    Cursors before;
    Seq last_seq = 0;
    {
      Query q(*writer_, "SELECT m.delivered_seq, m.read_seq, c.last_seq FROM members m "
                        "JOIN conversations c ON c.id = m.conversation_id "
                        "WHERE m.conversation_id = ? AND m.user_id = ?");
      q.bind(1, conv).bind(2, user);
      if (!q.step()) {
        if (q.failed()) return storage_error(*writer_, "advance_cursors");
        return make_error(Errc::not_found, "not a member");
      }
      before = {q.i64(0), q.i64(1)};
      last_seq = std::max(q.i64(2), inbox_->unmoved_last_seq(conv));
    }
    Cursors after = before;
    after.read_seq = std::max(before.read_seq, std::min(read_up_to, last_seq));
    after.delivered_seq =
        std::max({before.delivered_seq, std::min(delivered, last_seq), after.read_seq});
    const bool moved = after.read_seq != before.read_seq || after.delivered_seq != before.delivered_seq;
    if (moved) {
      Query q(*writer_, "UPDATE members SET delivered_seq = ?, read_seq = ? "
                        "WHERE conversation_id = ? AND user_id = ?");
      q.bind(1, after.delivered_seq).bind(2, after.read_seq).bind(3, conv).bind(4, user);
      q.step();
      if (q.failed()) return storage_error(*writer_, "advance_cursors");
    }
    return std::pair{after, moved};
  });
}

Status SqliteStore::record_last_seen(std::span<const std::pair<UserId, TimeMs>> seen) {
  if (seen.empty()) return ok_status();
  return write_transaction(write_mutex_, *writer_, "record_last_seen", [&]() -> Status {
    for (const auto& [user, at] : seen) {
      Query q(*writer_, "UPDATE users SET last_seen_at = max(coalesce(last_seen_at, 0), ?) "
                        "WHERE id = ?");
      q.bind(1, at).bind(2, user);
      q.step();
      if (q.failed()) return storage_error(*writer_, "record_last_seen");
    }
    return ok_status();
  });
}

// ---- messages ------------------------------------------------------------------------------

std::vector<Result<Appended>> SqliteStore::append_messages(std::span<const NewMessage> batch,
                                                           TimeMs now, IdGenerator& ids,
                                                           std::span<const LogPosition> positions) {
  auto results = inbox_->append(batch, now, ids, positions);
  const sqlite::Inbox::Backlog backlog = inbox_->backlog();
  if (backlog.batches > 0) {  // rows, or a batch of only log positions
    bool wake = false;
    {
      std::lock_guard lock(mover_mutex_);
      // Wake the mover only when what it waits for changes: the first unmoved row (it waits for
      // one), or enough to move now (it waits out its interval). Waking it on every commit
      // cost a context switch per batch for a predicate that stays false.
      const bool full = backlog.rows >= kMoveRows || backlog.bytes >= move_now_bytes_;
      wake = !move_pending_ || (full && !move_now_);
      move_pending_ = true;
      move_now_ = move_now_ || full;
    }
    if (wake) mover_wake_.notify_one();
  }
  return results;
}

Result<std::optional<std::int64_t>> SqliteStore::log_position(std::string_view topic,
                                                             int partition) {
  return inbox_->log_position(topic, partition);
}

Result<Message> SqliteStore::change_message(std::string_view conv, Seq seq, UserId sender_id,
                                            std::optional<std::string> body, TimeMs now) {
  if (auto moved = settle(conv); !moved) return moved.error();
  return write_transaction(write_mutex_, *writer_, "change_message", [&]() -> Result<Message> {
    {
      Query q(*writer_, "SELECT sender_id, deleted_at IS NOT NULL FROM messages "
                        "WHERE conversation_id = ? AND seq = ?");
      q.bind(1, conv).bind(2, seq);
      if (!q.step()) {
        if (q.failed()) return storage_error(*writer_, "change_message");
        return make_error(Errc::not_found, "no such message");
      }
      if (q.i64(0) != sender_id) {
        return make_error(Errc::forbidden, "only the sender may edit or delete a message");
      }
      if (q.i64(1) != 0) return make_error(Errc::conflict, "the message is deleted");
    }
    std::int64_t rev = 0;
    {
      Query q(*writer_, "UPDATE conversations SET last_rev = last_rev + 1 WHERE id = ? "
                        "RETURNING last_rev");
      q.bind(1, conv);
      if (!q.step()) return storage_error(*writer_, "change_message");
      rev = q.i64(0);
      while (q.step()) {
      }
    }
    {
      Query q(*writer_, body ? "UPDATE messages SET body = ?1, edited_at = ?2, rev = ?3 "
                               "WHERE conversation_id = ?4 AND seq = ?5"
                             : "UPDATE messages SET body = NULL, deleted_at = ?2, rev = ?3 "
                               "WHERE conversation_id = ?4 AND seq = ?5");
      if (body) q.bind(1, *body);
      q.bind(2, now).bind(3, rev).bind(4, conv).bind(5, seq);
      q.step();
      if (q.failed()) return storage_error(*writer_, "change_message");
    }
    Query q(*writer_, "SELECT " PARLEY_MESSAGE_COLUMNS
                      " FROM messages m JOIN users u ON u.id = m.sender_id "
                      "WHERE m.conversation_id = ? AND m.seq = ?");
    q.bind(1, conv).bind(2, seq);
    if (!q.step()) return storage_error(*writer_, "change_message");
    return read_message(q, 0, conv);
  });
}

Result<HistoryPage> SqliteStore::changes(std::string_view conv, std::int64_t after, int limit) {
  if (auto moved = settle(conv); !moved) return moved.error();
  auto lease = read();
  Query q(*lease, "SELECT " PARLEY_MESSAGE_COLUMNS
                  " FROM messages m JOIN users u ON u.id = m.sender_id "
                  "WHERE m.conversation_id = ? AND m.rev > ? ORDER BY m.rev LIMIT ?");
  q.bind(1, conv).bind(2, after).bind(3, std::int64_t{limit} + 1);
  HistoryPage page;
  while (q.step()) page.messages.push_back(read_message(q, 0, conv));
  if (q.failed()) return storage_error(*lease, "changes");
  drop_extra_row(page, limit);
  return page;
}

Result<HistoryPage> SqliteStore::history(std::string_view conv, const HistoryQuery& hq) {
  if (auto moved = settle(conv); !moved) return moved.error();
  auto lease = read();
  HistoryPage page;
  const std::int64_t fetch = hq.limit + 1;  // one more tells whether there is more
  if (hq.after) {
    Query q(*lease, "SELECT " PARLEY_MESSAGE_COLUMNS
                    " FROM messages m JOIN users u ON u.id = m.sender_id "
                    "WHERE m.conversation_id = ? AND m.seq > ? AND m.seq < ? "
                    "ORDER BY m.seq ASC LIMIT ?");
    q.bind(1, conv).bind(2, *hq.after).bind(3, hq.before.value_or(INT64_MAX)).bind(4, fetch);
    while (q.step()) page.messages.push_back(read_message(q, 0, conv));
    if (q.failed()) return storage_error(*lease, "history");
  } else {
    Query q(*lease, "SELECT " PARLEY_MESSAGE_COLUMNS
                    " FROM messages m JOIN users u ON u.id = m.sender_id "
                    "WHERE m.conversation_id = ? AND m.seq < ? ORDER BY m.seq DESC LIMIT ?");
    q.bind(1, conv).bind(2, hq.before.value_or(INT64_MAX)).bind(3, fetch);
    while (q.step()) page.messages.push_back(read_message(q, 0, conv));
    if (q.failed()) return storage_error(*lease, "history");
    std::reverse(page.messages.begin(), page.messages.end());
    drop_extra_row(page, hq.limit, /*extra_first=*/true);
    return page;
  }
  drop_extra_row(page, hq.limit);
  return page;
}

Result<std::optional<Message>> SqliteStore::message(std::string_view conv, Seq seq) {
  // The inbox first: a row it no longer holds was moved (it forgets rows after their move
  // committed), so the table has it. A row still there was never changed (changes settle first).
  if (auto held = inbox_->unmoved_message(conv, seq)) return held;
  auto lease = read();
  Query q(*lease, "SELECT " PARLEY_MESSAGE_COLUMNS
                  " FROM messages m JOIN users u ON u.id = m.sender_id "
                  "WHERE m.conversation_id = ? AND m.seq = ?");
  q.bind(1, conv).bind(2, seq);
  if (q.step()) return std::optional<Message>(read_message(q, 0, conv));
  if (q.failed()) return storage_error(*lease, "message");
  return std::optional<Message>();
}

Result<std::vector<Message>> SqliteStore::messages_by_id(std::string_view after_id, int limit) {
  auto lease = read();
  Query q(*lease, "SELECT m.conversation_id, " PARLEY_MESSAGE_COLUMNS
                  " FROM messages m JOIN users u ON u.id = m.sender_id "
                  "WHERE m.id > ? ORDER BY m.id LIMIT ?");
  q.bind(1, after_id).bind(2, std::int64_t{limit});
  std::vector<Message> out;
  while (q.step()) out.push_back(read_message(q, 1, q.text(0)));
  if (q.failed()) return storage_error(*lease, "messages_by_id");
  return out;
}

Result<int> SqliteStore::reseal_messages(std::span<const Resealed> changes) {
  return write_transaction(write_mutex_, *writer_, "reseal_messages", [&]() -> Result<int> {
    int replaced = 0;
    for (const auto& ch : changes) {
      // Compared as read: body NULL (a tombstone) and '[]' (no attachments) read as "".
      Query q(*writer_, "UPDATE messages SET body = ?1, attachments = ?2 "
                        "WHERE conversation_id = ?3 AND seq = ?4 AND coalesce(body, '') = ?5 "
                        "AND attachments = ?6");
      q.bind(1, ch.body)
          .bind(2, sqlite::attachments_column(ch.attachments))
          .bind(3, ch.conv)
          .bind(4, ch.seq)
          .bind(5, ch.body_before)
          .bind(6, sqlite::attachments_column(ch.attachments_before));
      q.step();
      if (q.failed()) return storage_error(*writer_, "reseal_messages");
      replaced += sqlite3_changes(writer_->handle());
    }
    return replaced;
  });
}

}  // namespace parley
