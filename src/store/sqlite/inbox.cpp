#include "store/sqlite/inbox.hpp"

#include <algorithm>
#include <stdexcept>

#include "chat/message_fields.hpp"
#include "core/ids.hpp"
#include "core/logging.hpp"
#include "store/sqlite/little_endian.hpp"
#include "store/sqlite/shared.hpp"

namespace parley::sqlite {

using namespace chat;

namespace {

// A segment is left for a new one past 64 MiB, so a segment is deleted soon after the mover has
// taken in its last row (about 200,000 messages of 300 bytes).
constexpr std::size_t kSegmentBytes = 64u << 20;

// A send's dedupe key. conv is a UUID and sender a number, so the separator cannot be ambiguous.
std::string dedupe_key(std::string_view conv, UserId sender, std::string_view client_msg_id) {
  std::string key;
  key.reserve(conv.size() + client_msg_id.size() + 24);
  key.append(conv).push_back('\x1f');
  key.append(std::to_string(sender)).push_back('\x1f');
  key.append(client_msg_id);
  return key;
}

std::string position_key(std::string_view topic, int partition) {
  std::string key(topic);
  key.push_back('\x1f');
  key.append(std::to_string(partition));
  return key;
}

// ---- a batch as a journal record --------------------------------------------------------------
//
// u8 format (2) | i64 first_row | i64 last_id | u32 rows | rows | u32 positions | positions
// row:      the message's fields (chat/message_fields.hpp), each as u8 tag and its value, in
//           tag order, then u8 0; a field that is not required is left out at its default
//           (no reply_to, not deleted, rev 0…), and read back as that default
// value:    str, i64, or u8 (a bool), by the field's type; an optional is its value, present
// position: str topic | i64 partition | i64 to
// Integers little-endian; str = u32 length and the bytes.
// Format 1 (before the field list): row = str conv | i64 seq | str id | i64 sender_id |
// str from | str client_msg_id | str body | u8 has_reply_to | i64 reply_to | i64 ts. Still read:
// a journal written by an older build is replayed at start.

constexpr std::uint8_t kRecordFormat = 2;
constexpr std::uint8_t kRecordFormatV1 = 1;

class Encoder {
 public:
  explicit Encoder(std::string& out) : out_(out) { out_.clear(); }
  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u32(std::uint32_t v) { append_le(out_, v); }
  void i64(std::int64_t v) { append_le(out_, static_cast<std::uint64_t>(v)); }
  void str(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_.append(s);
  }
  // One message field: its tag and value; nothing for one not required at its default.
  void field(const MessageField& f, const std::string& v) {
    if (!f.required && v.empty()) return;
    u8(f.tag);
    str(v);
  }
  void field(const MessageField& f, std::int64_t v) {
    if (!f.required && v == 0) return;
    u8(f.tag);
    i64(v);
  }
  void field(const MessageField& f, bool v) {
    if (!f.required && !v) return;
    u8(f.tag);
    u8(v ? 1 : 0);
  }
  void field(const MessageField& f, const std::optional<std::int64_t>& v) {
    if (!v) return;
    u8(f.tag);
    i64(*v);
  }

 private:
  std::string& out_;
};

// Reads what Encoder wrote; throws on anything short or malformed (the CRC matched, so that is
// a record this version does not understand).
class Decoder {
 public:
  explicit Decoder(std::string_view in) : in_(in) {}
  std::uint8_t u8() { return static_cast<std::uint8_t>(take(1)[0]); }
  std::uint32_t u32() { return get_le<std::uint32_t>(take(4).data()); }
  std::int64_t i64() { return static_cast<std::int64_t>(get_le<std::uint64_t>(take(8).data())); }
  std::string str() { return std::string(take(u32())); }
  bool done() const { return in_.empty(); }
  void value(std::string& v) { v = str(); }
  void value(std::int64_t& v) { v = i64(); }
  void value(bool& v) { v = u8() != 0; }
  void value(std::optional<std::int64_t>& v) { v = i64(); }

 private:
  std::string_view take(std::size_t n) {
    if (in_.size() < n) throw std::runtime_error("journal: a record ends early");
    const std::string_view b = in_.substr(0, n);
    in_.remove_prefix(n);
    return b;
  }
  std::string_view in_;
};

// A format-2 row: tagged fields in tag order up to the 0 tag; the required ones must be there.
void decode_row(Decoder& d, Message& m) {
  std::uint8_t tag = d.u8();
  for_each_field(m, [&](const MessageField& f, auto& member) {
    if (tag == f.tag) {
      d.value(member);
      tag = d.u8();
    } else if (f.required) {
      throw std::runtime_error("journal: a row lacks field " + std::string(f.key));
    }
  });
  if (tag != 0) {
    throw std::runtime_error("journal: a row has field tag " + std::to_string(tag) +
                             ", which this binary does not know: upgrade Parley");
  }
}

void decode_row_v1(Decoder& d, Message& m) {
  m.conv = d.str();
  m.seq = d.i64();
  m.id = d.str();
  m.sender_id = d.i64();
  m.from = d.str();
  m.client_msg_id = d.str();
  m.body = d.str();
  const bool has_reply_to = d.u8() != 0;
  const std::int64_t reply_to = d.i64();
  if (has_reply_to) m.reply_to = reply_to;
  m.ts = d.i64();
}

}  // namespace

void Inbox::encode_record(const Batch& batch, std::string& out) {
  Encoder e(out);
  e.u8(kRecordFormat);
  e.i64(batch.first_row);
  e.i64(batch.last_id);
  e.u32(static_cast<std::uint32_t>(batch.rows.size()));
  for (const Message& m : batch.rows) {
    for_each_field(m, [&e](const MessageField& f, const auto& value) { e.field(f, value); });
    e.u8(0);
  }
  e.u32(static_cast<std::uint32_t>(batch.positions.size()));
  for (const LogPosition& p : batch.positions) {
    e.str(p.topic);
    e.i64(p.partition);
    e.i64(p.to);
  }
}

Inbox::Batch Inbox::decode_record(std::string_view payload) {
  Decoder d(payload);
  const auto format = d.u8();
  if (format != kRecordFormat && format != kRecordFormatV1) {
    throw std::runtime_error("journal: record format " + std::to_string(format) +
                             " is not one this binary reads: upgrade Parley");
  }
  Inbox::Batch batch;
  batch.first_row = d.i64();
  batch.last_id = d.i64();
  batch.rows.resize(d.u32());
  for (Message& m : batch.rows) {
    if (format == kRecordFormatV1) {
      decode_row_v1(d, m);
    } else {
      decode_row(d, m);
    }
  }
  batch.positions.resize(d.u32());
  for (LogPosition& p : batch.positions) {
    p.topic = d.str();
    p.partition = static_cast<int>(d.i64());
    p.to = d.i64();
  }
  if (!d.done()) throw std::runtime_error("journal: a record has bytes left over");
  return batch;
}

namespace {

// The read transaction a batch's lookups share (its snapshot starts at the first statement).
// A COMMIT that fails is rolled back: the connection must not keep an old snapshot, which would
// miss rows moved since.
struct ReadTransaction {
  Db& db;
  bool open;
  explicit ReadTransaction(Db& d) : db(d), open(d.try_exec("BEGIN")) {}
  ~ReadTransaction() {
    if (open && !db.try_exec("COMMIT")) db.try_exec("ROLLBACK");
  }
};

}  // namespace

Inbox::Inbox(const std::string& store_path, std::int64_t moved_upto, int cache_mib,
             std::size_t max_unmoved_bytes)
    : store_(std::make_unique<Db>(store_path, true)),
      moved_(moved_upto),
      max_unmoved_bytes_(max_unmoved_bytes) {
  // The store's pages the writer reads: index pages for dedupe and conversation rows.
  cache_pages(*store_, "main", cache_mib);
  {
    Query q(*store_, "SELECT topic, partition, next_offset FROM log_positions");
    while (q.step()) positions_[position_key(q.text(0), static_cast<int>(q.i64(1)))] = q.i64(2);
    if (q.failed()) throw std::runtime_error("cannot read log_positions: " + q.error());
  }
  std::int64_t last_id = moved_upto;
  journal_ = std::make_unique<Journal>(
      journal_path(store_path), kSegmentBytes, [&](std::int64_t tag, std::string_view payload) {
        last_id = std::max(last_id, tag);
        if (tag <= moved_upto) return;  // in the store already
        auto batch = std::make_shared<Batch>(decode_record(payload));
        batch->record_bytes = payload.size();
        for (const LogPosition& p : batch->positions) {
          positions_[position_key(p.topic, p.partition)] = p.to;
        }
        remember(std::move(batch));
      });
  head_ = last_id;
  next_id_ = last_id + 1;
  journal_->release(moved_upto);  // segments the store took in before a crash or a restart
}

Inbox::KeyGeneration& Inbox::newest_keys() {
  if (key_generations_.empty()) key_generations_.emplace_back();
  return key_generations_.back();
}

const Message* Inbox::find_unmoved(const std::string& key) const {
  for (auto gen = key_generations_.rbegin(); gen != key_generations_.rend(); ++gen) {
    if (auto it = gen->keys.find(key); it != gen->keys.end()) {
      return it->second.id > moved_ ? it->second.msg : nullptr;  // moved: the store answers
    }
  }
  return nullptr;
}

void Inbox::remember(BatchPtr batch) {
  KeyGeneration& keys = newest_keys();
  std::int64_t id = batch->first_row;
  for (const Message& m : batch->rows) {
    keys.keys.emplace(dedupe_key(m.conv, m.sender_id, m.client_msg_id), UnmovedRow{&m, id++});
    // Not last_seqs_: unmoved_convs_ answers for these until they are moved, and the store
    // after (a replay of a big journal would otherwise fill that cache past its bound).
    unmoved_convs_.insert_or_assign(m.conv, UnmovedConv{m.seq, batch->last_id});
  }
  keys.last_id = batch->last_id;
  unmoved_rows_ += batch->rows.size();
  unmoved_bytes_ += batch->record_bytes;
  batches_.push_back(std::move(batch));
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
  if (unmoved_bytes_ >= max_unmoved_bytes_) {
    if (!behind_) {
      behind_ = true;
      log::warn("event=inbox_full unmoved_rows={} unmoved_bytes={} (sends fail with unavailable "
                "until the mover catches up; is the database's disk full?)",
                unmoved_rows_, unmoved_bytes_);
    }
    return fail_all(make_error(Errc::unavailable,
                               "the server is behind storing messages; retry shortly"));
  }
  // The compare-and-set of each position (store.hpp, LogPosition), against memory: the
  // journal has only this writer.
  for (const LogPosition& position : positions) {
    auto it = positions_.find(position_key(position.topic, position.partition));
    if (it == positions_.end() ? position.from != -1 : it->second != position.from) {
      return fail_all(fenced_error());
    }
  }

  auto committed = std::make_shared<Batch>();
  committed->first_row = next_id_;
  committed->rows.reserve(batch.size());  // the unmoved keys point into it: no reallocation
  committed->positions.assign(positions.begin(), positions.end());
  // This batch's rows join the unmoved keys as they are made, so a retry later in the batch finds
  // them as any other; a failed write forgets them again.
  KeyGeneration& keys = newest_keys();  // no move starts a generation while mutex_ is held
  std::vector<const std::string*> added_keys;  // node keys stay put when the map rehashes
  auto forget_batch = [&] {
    for (const std::string* key : added_keys) keys.keys.erase(keys.keys.find(*key));
  };
  // The batch's seqs per conversation, made visible only once the record is on disk.
  StringMap<Seq> batch_seqs;
  {
    // One snapshot of the store for the batch's lookups. It stays consistent with memory: a move
    // that commits meanwhile cannot call moved() before this batch releases mutex_.
    ReadTransaction read(*store_);
    for (const NewMessage& nm : batch) {
      std::string key = dedupe_key(nm.conv, nm.sender_id, nm.client_msg_id);
      auto original = find_original(key, nm);
      if (!original) {
        forget_batch();
        return fail_all(original.error());
      }
      if (*original) {
        // A retry of an acknowledged send returns the stored message, as it is now (invariant 2,
        // docs/architecture.md).
        results.emplace_back(Appended{std::move(**original), true});
        continue;
      }
      auto [at, first_in_batch] = batch_seqs.try_emplace(nm.conv, 0);
      if (first_in_batch) {
        auto last = committed_last_seq(nm.conv);
        if (!last) {
          batch_seqs.erase(at);
          if (last.error().code != Errc::not_found) {
            forget_batch();
            return fail_all(last.error());
          }
          results.emplace_back(last.error());
          continue;
        }
        at->second = *last;
      }
      // The next dense seq of the conversation (invariant 3, docs/architecture.md): only this
      // writer gives them out.
      at->second += 1;
      const Message& m =
          committed->rows.emplace_back(stored_message(nm, at->second, nm.id.empty() ? ids.uuid_v7(now) : nm.id, now));
      const std::int64_t id = committed->first_row + std::ssize(committed->rows) - 1;
      added_keys.push_back(&keys.keys.emplace(std::move(key), UnmovedRow{&m, id}).first->first);
      results.emplace_back(Appended{m, false});
    }
  }
  if (committed->rows.empty() && positions.empty()) return results;  // nothing new to keep

  // A batch of only positions takes an id too, so the move writes them (and the journal keeps
  // them until it has).
  committed->last_id =
      committed->first_row + std::max<std::int64_t>(1, std::ssize(committed->rows)) - 1;
  encode_record(*committed, record_);
  committed->record_bytes = record_.size();
  std::string error;
  if (!journal_->append(committed->last_id, record_, &error)) {
    forget_batch();
    log::error("event=store_error op=append_messages error=\"journal: {}\"", error);
    return fail_all(make_error(Errc::unavailable, "storage error"));
  }
  if (record_.capacity() > (1u << 20)) std::string().swap(record_);  // a rare huge batch

  // Durable: the rows are now what the store will hold once moved.
  next_id_ = committed->last_id + 1;
  head_ = committed->last_id;
  for (const LogPosition& p : positions) positions_[position_key(p.topic, p.partition)] = p.to;
  if (last_seqs_.size() + batch_seqs.size() > kMaxCachedLastSeqs) last_seqs_.clear();
  for (const auto& [conv, seq] : batch_seqs) {
    last_seqs_.insert_or_assign(conv, seq);
    unmoved_convs_.insert_or_assign(conv, UnmovedConv{seq, head_});
  }
  keys.last_id = head_;
  unmoved_rows_ += committed->rows.size();
  unmoved_bytes_ += committed->record_bytes;
  batches_.push_back(std::move(committed));
  return results;
}

Result<std::optional<Message>> Inbox::find_original(const std::string& key,
                                                    const NewMessage& nm) {
  // Not moved yet (perhaps made earlier in this very batch): never edited or deleted, because
  // change_message moves its conversation first.
  if (const Message* unmoved = find_unmoved(key)) return std::optional<Message>(*unmoved);
  Query q(*store_, "SELECT " PARLEY_MESSAGE_COLUMNS
                   " FROM messages m JOIN users u ON u.id = m.sender_id "
                   "WHERE m.conversation_id = ? AND m.sender_id = ? AND m.client_msg_id = ?");
  q.bind(1, nm.conv).bind(2, nm.sender_id).bind(3, nm.client_msg_id);
  if (q.step()) return std::optional(read_message(q, 0, nm.conv));
  if (q.failed()) return storage_error(*store_, "append_messages");
  return std::optional<Message>();
}

Result<Seq> Inbox::committed_last_seq(std::string_view conv) {
  if (auto it = unmoved_convs_.find(conv); it != unmoved_convs_.end()) return it->second.last_seq;
  if (auto it = last_seqs_.find(conv); it != last_seqs_.end()) return it->second;
  Query q(*store_, "SELECT last_seq FROM conversations WHERE id = ?");
  q.bind(1, conv);
  if (q.step()) return Seq{q.i64(0)};
  if (q.failed()) return storage_error(*store_, "append_messages");
  return make_error(Errc::not_found, "no such conversation");
}

Result<std::optional<std::int64_t>> Inbox::log_position(std::string_view topic, int partition) {
  std::lock_guard lock(mutex_);
  auto it = positions_.find(position_key(topic, partition));
  if (it == positions_.end()) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(it->second);
}

Inbox::Unmoved Inbox::unmoved() {
  std::lock_guard lock(mutex_);
  if (!key_generations_.empty() && !key_generations_.back().keys.empty() &&
      key_generations_.size() < kMaxKeyGenerations) {
    key_generations_.emplace_back();
  }
  return Unmoved{head_, std::vector<BatchPtr>(batches_.begin(), batches_.end())};
}

Inbox::Backlog Inbox::backlog() const {
  std::lock_guard lock(mutex_);
  return {batches_.size(), unmoved_rows_, unmoved_bytes_};
}

std::size_t Inbox::remembered_keys() const {
  std::lock_guard lock(mutex_);
  std::size_t keys = 0;
  for (const auto& gen : key_generations_) keys += gen.keys.size();
  return keys;
}

bool Inbox::has_unmoved(std::string_view conv) const {
  std::lock_guard lock(mutex_);
  return unmoved_convs_.find(conv) != unmoved_convs_.end();
}

std::optional<Message> Inbox::unmoved_message(std::string_view conv, Seq seq) const {
  std::lock_guard lock(mutex_);
  auto it = unmoved_convs_.find(conv);
  if (it == unmoved_convs_.end() || seq > it->second.last_seq) return std::nullopt;
  // Newest first: the message asked for is usually one of the last committed.
  for (auto b = batches_.rbegin(); b != batches_.rend(); ++b) {
    for (const auto& row : (*b)->rows) {
      if (row.seq == seq && row.conv == conv) return row;
    }
  }
  return std::nullopt;
}

Seq Inbox::unmoved_last_seq(std::string_view conv) const {
  std::lock_guard lock(mutex_);
  auto it = unmoved_convs_.find(conv);
  return it == unmoved_convs_.end() ? 0 : it->second.last_seq;
}

void Inbox::close() {
  std::lock_guard lock(mutex_);
  if (batches_.empty()) journal_->remove_all(moved_);
}

void Inbox::moved(std::int64_t upto) {
  std::deque<KeyGeneration> forgotten;  // freed after mutex_ is released (declared before it)
  std::lock_guard lock(mutex_);
  if (upto <= moved_) return;
  moved_ = upto;
  while (!key_generations_.empty() && key_generations_.front().last_id <= moved_) {
    forgotten.push_back(std::move(key_generations_.front()));
    key_generations_.pop_front();
  }
  while (!batches_.empty() && batches_.front()->last_id <= moved_) {
    unmoved_rows_ -= batches_.front()->rows.size();
    unmoved_bytes_ -= batches_.front()->record_bytes;
    batches_.pop_front();
  }
  if (behind_ && unmoved_bytes_ < max_unmoved_bytes_) {
    behind_ = false;
    log::info("event=inbox_caught_up unmoved_rows={} unmoved_bytes={}", unmoved_rows_,
              unmoved_bytes_);
  }
  std::erase_if(unmoved_convs_, [&](const auto& entry) { return entry.second.last_id <= moved_; });
  journal_->release(moved_);
}

}  // namespace parley::sqlite
