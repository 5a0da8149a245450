#pragma once
// Reading a message row: the column list and its reader, shared by SqliteStore's queries and the
// Inbox's (whose rows use the same column names). Internal to store/sqlite.

#include <string_view>

#include "chat/types.hpp"
#include "store/sqlite/db.hpp"

namespace parley::sqlite {

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
