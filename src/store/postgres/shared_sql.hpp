#pragma once
// SQL text that more than one statement (or a statement and a server-side routine,
// store/postgres/migrations.cpp) is built from, kept once.

// Noting into push_state AS p a row (user, conversation, pending_from, pending_to,
// pending_count, first_noted_at, due_at): a new burst when nothing is pending
// (pending_to <= pushed_seq), else the burst grows by pending_count; seqs at or below what is
// pending or pushed change nothing. Shared by note_for_push (a row per message) and the
// sequencer's append routine (a row per member and conversation of a batch).
#define PARLEY_PG_PUSH_BURST_GROWS                                                              \
  "ON CONFLICT(user_id, conversation_id) DO UPDATE SET "                                      \
  "pending_from = CASE WHEN p.pending_to <= p.pushed_seq THEN excluded.pending_from "         \
  "  ELSE p.pending_from END, "                                                               \
  "pending_count = CASE WHEN p.pending_to <= p.pushed_seq THEN excluded.pending_count "       \
  "  ELSE p.pending_count + excluded.pending_count END, "                                     \
  "first_noted_at = CASE WHEN p.pending_to <= p.pushed_seq THEN excluded.first_noted_at "     \
  "  ELSE p.first_noted_at END, "                                                             \
  "due_at = CASE WHEN p.pending_to <= p.pushed_seq THEN excluded.due_at ELSE p.due_at END, "  \
  "pending_to = excluded.pending_to "                                                         \
  "WHERE excluded.pending_to > p.pushed_seq AND excluded.pending_to > p.pending_to"

// A message's columns (messages AS m JOIN users AS u), in the order PostgresStore's
// read_message reads them. Shared by the store's queries and the sequencer's append routine.
#define PARLEY_PG_MESSAGE_COLUMNS                                                                  \
  "m.seq, m.id, m.sender_id, u.username, coalesce(m.body, ''), m.reply_to, m.client_msg_id, "     \
  "m.created_at, m.edited_at, (m.deleted_at IS NOT NULL)::int, m.rev, "                          \
  "coalesce(nullif(m.attachments, '[]'), '')"
