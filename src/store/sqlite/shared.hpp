#pragma once
// What SqliteStore and its Inbox share (internal to store/sqlite): how a write connection is
// opened, how a failed call is reported, and how a message row is read (the inbox's rows use the
// store's column names).

#include <algorithm>
#include <mutex>
#include <string>
#include <string_view>

#include "chat/types.hpp"
#include "core/logging.hpp"
#include "core/result.hpp"
#include "store/sqlite/db.hpp"

namespace parley::sqlite {

// A failed SQLite call: logged with what failed, and told to the client as `unavailable`.
inline Error storage_error(const Db& db, std::string_view what) {
  log::error("event=store_error op={} error=\"{}\"", what, db.last_error());
  return make_error(Errc::unavailable, "storage error");
}

inline bool is_constraint(const Query& q) {
  return (q.result_code() & 0xFF) == SQLITE_CONSTRAINT;
}

// Runs f inside BEGIN IMMEDIATE … COMMIT on the write connection, under mutex; rolls back when
// f fails.
template <class F>
auto write_transaction(std::mutex& mutex, Db& db, std::string_view what, F&& f) -> decltype(f()) {
  std::lock_guard lock(mutex);
  if (!db.try_exec("BEGIN IMMEDIATE")) return storage_error(db, what);
  auto result = f();
  if (!result.ok()) {
    db.try_exec("ROLLBACK");
    return result;
  }
  if (!db.try_exec("COMMIT")) {
    auto err = storage_error(db, what);
    db.try_exec("ROLLBACK");
    return err;
  }
  return result;
}

// How a write connection commits. durable: FULL, every commit fsyncs the WAL before returning —
// the ack promise (invariant 1, docs/architecture.md). unsynced: NORMAL, no fsync; a power loss
// may undo the last commits (never a process crash): only for work that is done again then
// (the push dispatcher's bookkeeping).
enum class Commits { durable, unsynced };

// A connection that commits, in WAL mode.
inline void open_for_writing(Db& db, Commits commits = Commits::durable) {
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(commits == Commits::durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
}

// A page cache for the hot pages of busy conversations, and reads through mmap, for `schema` (a
// file attached under that name, or "main"): without them a writer re-read index pages with
// pread on every transaction.
inline void cache_pages(Db& db, std::string_view schema, int cache_mib) {
  const std::string prefix = "PRAGMA " + std::string(schema) + ".";
  db.exec((prefix + "cache_size = -" + std::to_string(std::max(1, cache_mib) * 1024)).c_str());
  db.exec((prefix + "mmap_size = 268435456").c_str());
}

// messages.attachments holds '[]' for none (its default); a Message holds "" (chat/types.hpp).
inline std::string attachments_from_column(std::string text) {
  return text == "[]" ? std::string() : text;
}
inline std::string_view attachments_column(const std::string& attachments) {
  return attachments.empty() ? std::string_view("[]") : std::string_view(attachments);
}

// The columns read_message reads, from messages m joined with the sender's users row u.
#define PARLEY_MESSAGE_COLUMNS                                                                   \
  "m.seq, m.id, m.sender_id, u.username, m.body, m.reply_to, m.client_msg_id, m.created_at, " \
  "m.edited_at, m.deleted_at IS NOT NULL, m.rev, m.attachments"

inline chat::Message read_message(const Query& q, int col, std::string_view conv) {
  chat::Message m;
  m.conv = std::string(conv);
  m.seq = q.i64(col);
  m.id = q.text(col + 1);
  m.sender_id = q.i64(col + 2);
  m.from = q.text(col + 3);
  m.body = q.text(col + 4);
  m.reply_to = q.opt_i64(col + 5);
  m.client_msg_id = q.text(col + 6);
  m.ts = q.i64(col + 7);
  m.edited_at = q.opt_i64(col + 8);
  m.deleted = q.i64(col + 9) != 0;
  m.rev = q.i64(col + 10);
  m.attachments = attachments_from_column(q.text(col + 11));
  return m;
}

}  // namespace parley::sqlite
