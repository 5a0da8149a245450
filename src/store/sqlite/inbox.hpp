#pragma once
// Inbox: the first half of SqliteStore's log-structured write path (docs/architecture.md,
// "Storage"; docs/performance.md, "Where ingest time goes").
//
// Sent messages are acknowledged once they are committed (fsync'd) here: an append-only table in
// a database file of its own (<store>-inbox), every row at the right edge of one B-tree, so a
// batch of N messages writes about N × 300 bytes of WAL however many conversations they belong
// to. Writing them straight into the per-conversation B-trees of the store dirtied one or more
// 4 KiB pages per conversation per commit (7 KB of writes per message over 100 conversations,
// 27 KB over 1,000: bench/write_path). SqliteStore moves committed rows into the store in large
// batches from its own connection (SqliteStore::move_inbox), where each conversation's pages are
// written once for many messages, and records how far it moved in the same transaction
// (inbox_moved.upto), so a crash at any point loses nothing and moves nothing twice.
//
// What this class keeps in memory about the rows not yet moved: their dedupe keys (a retried
// send must find its original, DESIGN.md §2.2), and per conversation the last seq and row given
// out, which is the conversation's committed last_seq until the move lands.
//
// Thread-safety: every method locks mutex_; append() is called by the one message writer
// (LocalLog, DESIGN.md §2.3), the others from any thread. Never called with SqliteStore's
// write_mutex_ held, except unmoved_last_seq (lock order: write_mutex_, then mutex_).

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"
#include "store/sqlite/db.hpp"
#include "store/store.hpp"

namespace parley::sqlite {

class Inbox {
 public:
  // Opens (creating) <store_path>-inbox and attaches the store, which must already be migrated,
  // as "store" for reads. next_id_after: the store's inbox_moved.upto — row ids continue after
  // both it and every row still here, so a row id is never given twice.
  Inbox(const std::string& store_path, std::int64_t next_id_after, int cache_mib);

  static std::string path_for(const std::string& store_path) { return store_path + "-inbox"; }

  // One transaction for the batch, committed with fsync before it returns: the Store's
  // append_messages contract (store.hpp), with seqs counted from the committed last_seq.
  std::vector<Result<chat::Appended>> append(std::span<const chat::NewMessage> batch, TimeMs now,
                                             IdGenerator& ids,
                                             std::span<const LogPosition> positions);
  Result<std::optional<std::int64_t>> log_position(std::string_view topic, int partition);

  // The highest row id committed, and how many committed rows are not yet moved.
  std::int64_t head() const;
  std::size_t unmoved_rows() const;
  bool has_unmoved(std::string_view conv) const;
  bool has_unmoved() const;
  // The last seq given out in conv by rows not yet moved; 0 when there are none.
  chat::Seq unmoved_last_seq(std::string_view conv) const;
  // The store now holds every row up to `upto` (its move committed): forget them here, and
  // delete them from the inbox in the next append's transaction (no commit of its own).
  void moved(std::int64_t upto);

  sqlite3* handle() const { return db_->handle(); }

 private:
  // The conversation's last_seq as committed, from memory or the store. Under mutex_.
  Result<chat::Seq> committed_last_seq(std::string_view conv);
  // The stored original of a send whose dedupe key is `key`, from the inbox or the store, if
  // there is one. Under mutex_.
  Result<std::optional<chat::Message>> find_original(const std::string& key,
                                                      const chat::NewMessage& nm);

  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <class V>
  using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

  mutable std::mutex mutex_;
  std::unique_ptr<Db> db_;
  std::int64_t next_id_ = 1;
  std::int64_t head_ = 0;       // highest id committed
  std::int64_t moved_ = 0;      // the store holds every row up to this
  std::int64_t trimmed_ = 0;    // rows up to this are deleted from the inbox
  // Rows not yet moved: dedupe key (conv, sender, client_msg_id) → row id, and the same keys
  // (pointing into the map's nodes, which stay put) in row order, to forget them once moved.
  StringMap<std::int64_t> unmoved_keys_;
  std::deque<std::pair<std::int64_t, const std::string*>> unmoved_order_;
  struct Unmoved {
    chat::Seq last_seq = 0;
    std::int64_t last_id = 0;
  };
  StringMap<Unmoved> unmoved_convs_;
  // Committed last_seq of conversations written lately (moved or not), so a send reads no
  // conversation row; emptied when it would pass kMaxCachedLastSeqs.
  static constexpr std::size_t kMaxCachedLastSeqs = 100'000;
  StringMap<chat::Seq> last_seqs_;
};

}  // namespace parley::sqlite
