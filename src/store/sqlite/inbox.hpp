#pragma once
// Inbox: the first half of SqliteStore's log-structured write path (docs/architecture.md,
// "The inbox"; docs/performance.md, "What was done").
//
// Sent messages are acknowledged once their batch is one record in the journal (journal.hpp,
// <store>-inbox.N): one write() and one fdatasync per batch, however many conversations it
// touches. SqliteStore moves committed rows into the store's tables in large batches from its
// own connection (SqliteStore::move_inbox), where each conversation's pages are written once for
// many messages, and records how far it moved in the same transaction (inbox_moved.upto), so a
// crash at any point loses nothing and moves nothing twice: at open, the journal's records above
// inbox_moved.upto are unmoved rows again.
//
// The rows not yet moved are also kept in memory, in their committed batches (which the mover
// reads without copying), with their dedupe keys (a retried send must find its original,
// invariant 2, docs/architecture.md) and, per conversation, the last seq and row given out, which
// is the conversation's committed last_seq until the move lands. The cluster log's positions
// (store.hpp, LogPosition) ride in the same records and are checked in memory, then written to the
// store's log_positions by the move.
//
// What waits to be moved is bounded (max_unmoved_bytes of journal records): if the mover cannot
// keep up or its moves fail (the store's disk is full), sends fail with `unavailable` once the
// bound is reached, instead of memory and the journal growing until the process dies. The bound
// is checked before a batch, so one batch may pass it.
//
// Thread-safety: every method locks mutex_; append() is called by the one message writer
// (LocalLog, invariant 3, docs/architecture.md), the others from any thread. Never called with
// SqliteStore's write_mutex_ held, except unmoved_last_seq and unmoved (lock order: write_mutex_,
// then mutex_).

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
#include "store/sqlite/journal.hpp"
#include "store/store.hpp"

namespace parley::sqlite {

class Inbox {
 public:
  // A committed batch: rows[i] has row id first_row + i; last_id is the highest id the batch took
  // (a batch of only positions takes one id and has no rows).
  struct Batch {
    std::int64_t first_row = 0;
    std::int64_t last_id = 0;
    std::vector<chat::Message> rows;
    std::vector<LogPosition> positions;  // `to` is the position; `from` is not kept
    std::size_t record_bytes = 0;        // its journal record's size
  };
  using BatchPtr = std::shared_ptr<const Batch>;

  // A batch as its journal record (the format is described in inbox.cpp), and back: decode
  // throws std::runtime_error on a record it cannot read. Public for tests.
  static void encode_record(const Batch& batch, std::string& out);
  static Batch decode_record(std::string_view payload);

  // Opens (creating) the journal of the store at store_path, which must already be migrated, and
  // a read connection to the store. moved_upto: the store's inbox_moved.upto — the journal's rows
  // above it are unmoved, and ids continue after both, so an id is never given twice.
  // max_unmoved_bytes: the bound on what waits to be moved (above).
  Inbox(const std::string& store_path, std::int64_t moved_upto, int cache_mib,
        std::size_t max_unmoved_bytes);

  // The journal's base name: segments <store>-inbox.N, lock <store>-inbox.lock (not "-journal",
  // which is SQLite's own rollback journal's name, and which cleanup scripts delete).
  static std::string journal_path(const std::string& store_path) {
    return store_path + "-inbox";
  }
  // Where the inbox was a SQLite file (before the journal); SqliteStore adopts its rows.
  static std::string legacy_path(const std::string& store_path) { return store_path + "-inbox"; }

  // The batch is one journal record, on disk before this returns: the Store's append_messages
  // contract (store.hpp), with seqs counted from the committed last_seq.
  std::vector<Result<chat::Appended>> append(std::span<const chat::NewMessage> batch, TimeMs now,
                                             IdGenerator& ids,
                                             std::span<const LogPosition> positions);
  Result<std::optional<std::int64_t>> log_position(std::string_view topic, int partition);

  // The committed batches not yet moved, oldest first, and the highest id among them. For the
  // mover: the rows committed from now on go into a new key generation (below), so that the
  // move's moved() can drop the older ones whole.
  struct Unmoved {
    std::int64_t head = 0;
    std::vector<BatchPtr> batches;
  };
  Unmoved unmoved();
  // How much waits to be moved: committed batches (a batch of only log positions has no rows),
  // their rows, and their records' bytes (what max_unmoved_bytes bounds).
  struct Backlog {
    std::size_t batches = 0;
    std::size_t rows = 0;
    std::size_t bytes = 0;
  };
  Backlog backlog() const;
  bool has_unmoved(std::string_view conv) const;
  // Dedupe keys held in memory (those of moved rows until their generation is dropped).
  std::size_t remembered_keys() const;
  // Message seq of conv when it is committed and not yet moved; else nullopt.
  std::optional<chat::Message> unmoved_message(std::string_view conv, chat::Seq seq) const;
  // The last seq given out in conv by rows not yet moved; 0 when there are none.
  chat::Seq unmoved_last_seq(std::string_view conv) const;
  // The store now holds every row up to `upto` (its move committed): forget them here, and
  // release the journal's segments that hold nothing else.
  void moved(std::int64_t upto);
  // At a clean shutdown, after the last move: when everything was moved, deletes the journal's
  // segments, so the next start has nothing to read. Nothing may be appended after.
  void close();

 private:
  // A recovered or committed batch joins the unmoved ones. Under mutex_.
  void remember(BatchPtr batch);
  // The conversation's last_seq as committed, from memory or the store. Under mutex_.
  Result<chat::Seq> committed_last_seq(std::string_view conv);
  // The stored original of a send whose dedupe key is `key`, from memory or the store, if there
  // is one. Under mutex_, inside the batch's read transaction.
  Result<std::optional<chat::Message>> find_original(const std::string& key,
                                                      const chat::NewMessage& nm);

  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <class V>
  using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

  mutable std::mutex mutex_;
  std::unique_ptr<Db> store_;  // read-only: dedupe lookups and last_seq of the store
  std::unique_ptr<Journal> journal_;
  std::string record_;         // the batch being encoded, kept to reuse its capacity
  std::int64_t next_id_ = 1;
  std::int64_t head_ = 0;   // highest id committed
  std::int64_t moved_ = 0;  // the store holds every row up to this
  std::deque<BatchPtr> batches_;  // committed, not yet moved
  std::size_t unmoved_rows_ = 0;
  std::size_t unmoved_bytes_ = 0;  // their records' sizes
  const std::size_t max_unmoved_bytes_;
  bool behind_ = false;  // at the bound: sends fail until a move brings it below
  // Dedupe key (conv, sender, client_msg_id) of every unmoved row → the row, in its batch, in
  // generations: each move starts a new one (unmoved()), and moved() drops the generations it
  // covered whole and frees them after releasing mutex_. Erasing a move's keys one by one under
  // the mutex held it for 0.9–6.8 ms per move at 25,000 messages/s, and the writer, which needs
  // the mutex for every batch, waited that long. A generation can outlive a move that covered
  // only part of it (the cap below): lookups skip its moved rows and ask the store, which holds
  // them as they are now (perhaps edited). So a moved row's pointer is never followed, and its
  // batch may already be freed (batches_ keeps only unmoved ones).
  struct UnmovedRow {
    const chat::Message* msg = nullptr;  // into its batch in batches_, while id > moved_
    std::int64_t id = 0;                 // its row id: moved once moved_ reaches it
  };
  struct KeyGeneration {
    std::int64_t last_id = 0;  // the highest id of a batch whose keys it holds
    StringMap<UnmovedRow> keys;
  };
  // Lookups try every generation; more than this are not started (the newest one grows).
  static constexpr std::size_t kMaxKeyGenerations = 4;
  std::deque<KeyGeneration> key_generations_;  // oldest first; rows are added to the newest
  KeyGeneration& newest_keys();
  const chat::Message* find_unmoved(const std::string& key) const;
  struct UnmovedConv {
    chat::Seq last_seq = 0;
    std::int64_t last_id = 0;
  };
  StringMap<UnmovedConv> unmoved_convs_;
  // Committed last_seq of conversations written lately (moved or not), so a send reads no
  // conversation row; emptied when it would pass kMaxCachedLastSeqs.
  static constexpr std::size_t kMaxCachedLastSeqs = 100'000;
  StringMap<chat::Seq> last_seqs_;
  // The cluster log's positions: "topic\x1fpartition" → next offset, the store's and the
  // journal's.
  StringMap<std::int64_t> positions_;
};

}  // namespace parley::sqlite
