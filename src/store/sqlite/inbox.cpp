#include "store/sqlite/inbox.hpp"

#include <algorithm>
#include <stdexcept>

#include "core/ids.hpp"
#include "store/sqlite/shared.hpp"

namespace parley::sqlite {

using namespace chat;

namespace {

// The inbox's own schema (PRAGMA user_version 1): the columns of the store's messages that a new
// message has, under the same names. row_id is counted by the writer itself, so it is never
// reused, even after every row was moved and deleted.
// log_positions lives here, not in the store, because a batch's position moves in the same
// transaction as its messages (store.hpp, LogPosition).
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS inbox(
  row_id          INTEGER PRIMARY KEY,
  conversation_id TEXT NOT NULL,
  seq             INTEGER NOT NULL,
  id              TEXT NOT NULL,
  sender_id       INTEGER NOT NULL,
  client_msg_id   TEXT NOT NULL,
  body            TEXT,
  reply_to        INTEGER,
  created_at      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS log_positions(
  topic       TEXT NOT NULL,
  partition   INTEGER NOT NULL,
  next_offset INTEGER NOT NULL,
  PRIMARY KEY(topic, partition)
) WITHOUT ROWID;
PRAGMA user_version = 1;
)sql";

// One inbox row as read_message reads PARLEY_MESSAGE_COLUMNS: a row not yet moved was never
// edited or deleted (change_message moves its conversation first).
constexpr const char* kReadInboxRow =
    "SELECT m.seq, m.id, m.sender_id, u.username, m.body, m.reply_to, m.client_msg_id, "
    "m.created_at, NULL, 0, 0 FROM inbox m JOIN store.users u ON u.id = m.sender_id "
    "WHERE m.row_id = ?";

// A send's dedupe key. conv is a UUID and sender a number, so the separator cannot be ambiguous.
std::string dedupe_key(std::string_view conv, UserId sender, std::string_view client_msg_id) {
  std::string key;
  key.reserve(conv.size() + client_msg_id.size() + 24);
  key.append(conv).push_back('\x1f');
  key.append(std::to_string(sender)).push_back('\x1f');
  key.append(client_msg_id);
  return key;
}

}  // namespace

Inbox::Inbox(const std::string& store_path, std::int64_t next_id_after, int cache_mib) {
  db_ = std::make_unique<Db>(path_for(store_path), false);
  open_for_writing(*db_);  // a commit is durable before append returns: the ack
  db_->exec(kSchema);
  {
    Query q(*db_, "ATTACH DATABASE ? AS store");
    q.bind(1, store_path);
    if (q.step(), q.failed()) throw std::runtime_error("cannot attach the store: " + q.error());
  }
  // The store's pages the writer reads: index pages for dedupe and conversation rows.
  cache_pages(*db_, "store", cache_mib);
  Query q(*db_, "SELECT coalesce(max(row_id), 0) FROM inbox");
  if (!q.step()) throw std::runtime_error("cannot read the inbox: " + q.error());
  head_ = q.i64(0);
  moved_ = next_id_after;  // what the store holds already goes at the first append
  next_id_ = std::max(head_, next_id_after) + 1;
}

std::vector<Result<Appended>> Inbox::append(std::span<const NewMessage> batch, TimeMs now,
                                            IdGenerator& ids,
                                            std::span<const LogPosition> positions) {
  std::vector<Result<Appended>> results;
  results.reserve(batch.size());
  auto fail_all = [&](const Error& e) {
    results.assign(batch.size(), Result<Appended>(e));
    return results;
  };

  std::lock_guard lock(mutex_);
  Db& db = *db_;
  // DEFERRED: the write lock is the inbox's alone; reads of the attached store take no lock
  // that would stop the store's own writer (BEGIN IMMEDIATE would lock both files).
  if (!db.try_exec("BEGIN")) return fail_all(storage_error(db, "append_messages"));
  // This batch's rows join the unmoved keys as they are inserted, so a retry later in the batch
  // finds them as any other; a rollback forgets them again.
  const std::size_t keys_before = unmoved_order_.size();
  auto rollback = [&](const char* what) {
    auto err = storage_error(db, what);
    db.try_exec("ROLLBACK");
    while (unmoved_order_.size() > keys_before) {
      unmoved_keys_.erase(unmoved_keys_.find(*unmoved_order_.back().second));
      unmoved_order_.pop_back();
    }
    return fail_all(err);
  };
  for (const LogPosition& position : positions) {
    Query q(db, kMoveLogPosition);
    q.bind(1, position.topic).bind(2, std::int64_t{position.partition}).bind(3, position.to)
        .bind(4, position.from);
    const bool moved = q.step();
    if (q.failed()) return rollback("append_messages");
    if (!moved) {
      db.try_exec("ROLLBACK");
      return fail_all(fenced_error());
    }
  }
  if (trimmed_ < moved_) {
    Query q(db, "DELETE FROM inbox WHERE row_id <= ?");
    q.bind(1, moved_);
    if (q.step(), q.failed()) return rollback("append_messages");
  }

  // The batch's seqs per conversation, made visible to other threads only after COMMIT.
  StringMap<Seq> batch_seqs;
  std::int64_t id = next_id_;
  for (const NewMessage& nm : batch) {
    std::string key = dedupe_key(nm.conv, nm.sender_id, nm.client_msg_id);
    auto original = find_original(key, nm);
    if (!original) return rollback("append_messages");
    if (*original) {
      // A retry of an acknowledged send returns the stored message, as it is now (§2.2).
      results.emplace_back(Appended{std::move(**original), true});
      continue;
    }
    auto [at, first_in_batch] = batch_seqs.try_emplace(nm.conv, 0);
    if (first_in_batch) {
      auto last = committed_last_seq(nm.conv);
      if (!last) {
        batch_seqs.erase(at);
        if (last.error().code != Errc::not_found) return rollback("append_messages");
        results.emplace_back(last.error());
        continue;
      }
      at->second = *last;
    }
    // The next dense seq of the conversation (DESIGN.md §2.3): only this writer gives them out.
    Message m = stored_message(nm, at->second + 1, ids.uuid_v7(now), now);
    Query q(db,
            "INSERT INTO inbox(row_id, conversation_id, seq, id, sender_id, client_msg_id, "
            "body, reply_to, created_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
    q.bind(1, id).bind(2, m.conv).bind(3, m.seq).bind(4, m.id).bind(5, m.sender_id)
        .bind(6, m.client_msg_id).bind(7, m.body).bind(8, m.reply_to).bind(9, m.ts);
    if (q.step(), q.failed()) return rollback("append_messages");
    at->second = m.seq;
    auto added = unmoved_keys_.emplace(std::move(key), id).first;
    unmoved_order_.emplace_back(id, &added->first);
    ++id;
    results.emplace_back(Appended{std::move(m), false});
  }
  if (!db.try_exec("COMMIT")) return rollback("append_messages");

  // Durable: the rows are now what the store will hold once moved.
  trimmed_ = std::max(trimmed_, moved_);
  next_id_ = id;
  head_ = id - 1;
  if (last_seqs_.size() + batch_seqs.size() > kMaxCachedLastSeqs) last_seqs_.clear();
  for (const auto& [conv, seq] : batch_seqs) {
    last_seqs_.insert_or_assign(conv, seq);
    unmoved_convs_.insert_or_assign(conv, Unmoved{seq, head_});
  }
  return results;
}

Result<std::optional<Message>> Inbox::find_original(const std::string& key,
                                                    const NewMessage& nm) {
  if (auto it = unmoved_keys_.find(key); it != unmoved_keys_.end()) {
    // Not moved yet (perhaps inserted earlier in this very batch).
    Query q(*db_, kReadInboxRow);
    q.bind(1, it->second);
    if (!q.step()) return storage_error(*db_, "append_messages");
    return std::optional(read_message(q, 0, nm.conv));
  }
  Query q(*db_, "SELECT " PARLEY_MESSAGE_COLUMNS
                " FROM store.messages m JOIN store.users u ON u.id = m.sender_id "
                "WHERE m.conversation_id = ? AND m.sender_id = ? AND m.client_msg_id = ?");
  q.bind(1, nm.conv).bind(2, nm.sender_id).bind(3, nm.client_msg_id);
  if (q.step()) return std::optional(read_message(q, 0, nm.conv));
  if (q.failed()) return storage_error(*db_, "append_messages");
  return std::optional<Message>();
}

Result<Seq> Inbox::committed_last_seq(std::string_view conv) {
  if (auto it = unmoved_convs_.find(conv); it != unmoved_convs_.end()) return it->second.last_seq;
  if (auto it = last_seqs_.find(conv); it != last_seqs_.end()) return it->second;
  Query q(*db_, "SELECT last_seq FROM store.conversations WHERE id = ?");
  q.bind(1, conv);
  if (q.step()) return Seq{q.i64(0)};
  if (q.failed()) return storage_error(*db_, "append_messages");
  return make_error(Errc::not_found, "no such conversation");
}

Result<std::optional<std::int64_t>> Inbox::log_position(std::string_view topic, int partition) {
  std::lock_guard lock(mutex_);
  Query q(*db_, "SELECT next_offset FROM log_positions WHERE topic = ? AND partition = ?");
  q.bind(1, topic).bind(2, std::int64_t{partition});
  if (q.step()) return std::optional<std::int64_t>(q.i64(0));
  if (q.failed()) return storage_error(*db_, "log_position");
  return std::optional<std::int64_t>();
}

std::int64_t Inbox::head() const {
  std::lock_guard lock(mutex_);
  return head_;
}

std::size_t Inbox::unmoved_rows() const {
  std::lock_guard lock(mutex_);
  return unmoved_order_.size();
}

bool Inbox::has_unmoved(std::string_view conv) const {
  std::lock_guard lock(mutex_);
  return unmoved_convs_.find(conv) != unmoved_convs_.end();
}

bool Inbox::has_unmoved() const {
  std::lock_guard lock(mutex_);
  return !unmoved_convs_.empty();
}

Seq Inbox::unmoved_last_seq(std::string_view conv) const {
  std::lock_guard lock(mutex_);
  auto it = unmoved_convs_.find(conv);
  return it == unmoved_convs_.end() ? 0 : it->second.last_seq;
}

void Inbox::moved(std::int64_t upto) {
  std::lock_guard lock(mutex_);
  moved_ = std::max(moved_, upto);
  while (!unmoved_order_.empty() && unmoved_order_.front().first <= moved_) {
    unmoved_keys_.erase(unmoved_keys_.find(*unmoved_order_.front().second));
    unmoved_order_.pop_front();
  }
  std::erase_if(unmoved_convs_, [&](const auto& entry) { return entry.second.last_id <= moved_; });
}

}  // namespace parley::sqlite
