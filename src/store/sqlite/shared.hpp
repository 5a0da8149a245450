#pragma once
// What SqliteStore and its Inbox share (internal to store/sqlite): how a write connection is
// opened, how a failed call is reported, and how a message row is read (the inbox's rows use the
// store's column names).

#include <algorithm>
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

// A connection that commits: WAL, and FULL, so every commit fsyncs the WAL before returning —
// the ack promise (invariant 1, docs/architecture.md).
inline void open_for_writing(Db& db) {
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = FULL");
}

// A page cache for the hot pages of busy conversations, and reads through mmap, for `schema` (a
// file attached under that name, or "main"): without them a writer re-read index pages with
// pread on every transaction.
inline void cache_pages(Db& db, std::string_view schema, int cache_mib) {
  const std::string prefix = "PRAGMA " + std::string(schema) + ".";
  db.exec((prefix + "cache_size = -" + std::to_string(std::max(1, cache_mib) * 1024)).c_str());
  db.exec((prefix + "mmap_size = 268435456").c_str());
}

// The columns read_message reads, from messages m joined with the sender's users row u.
#define PARLEY_MESSAGE_COLUMNS                                                                   \
  "m.seq, m.id, m.sender_id, u.username, m.body, m.reply_to, m.client_msg_id, m.created_at, " \
  "m.edited_at, m.deleted_at IS NOT NULL, m.rev"

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
  return m;
}

}  // namespace parley::sqlite
