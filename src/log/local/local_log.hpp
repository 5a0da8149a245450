#pragma once
// LocalLog: the embedded MessageLog. One writer thread drains the queue — up to max_batch
// messages, waiting at most max_delay for more once the first arrives — and commits them to the
// Store in one transaction (group commit: one fsync for many messages). It is the single writer
// that assigns seqs (invariant 3, docs/architecture.md). A completer thread then runs each
// committed batch's completions in commit order while the writer already commits the next batch:
// publishing and acking (rendering JSON, posting to shards) never delays a commit.
// Thread-safety: append() and drain() from any thread; completions run on the completer thread,
// one at a time, in commit order.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "core/ids.hpp"
#include "core/time.hpp"
#include "log/message_log.hpp"
#include "store/store.hpp"

namespace parley {

struct GroupCommitOptions {
  std::size_t max_batch = 1024;
  std::chrono::microseconds max_delay{0};  // 0: commit whatever is queued, no waiting
};

class LocalLog final : public MessageLog {
 public:
  LocalLog(Store& store, const Clock& clock, IdGenerator& ids, GroupCommitOptions options);
  ~LocalLog() override;

  void append(chat::NewMessage message, Done done) override;
  void drain() override;

  std::uint64_t commits() const override;
  std::uint64_t committed_messages() const override;

 private:
  void run_writer();
  void run_completer();

  struct Committed {
    std::vector<Result<chat::Appended>> results;
    std::vector<Done> completions;
  };
  // Committed batches the completer has not finished; the writer waits while there are this
  // many, so a slow completer slows intake instead of growing memory.
  static constexpr std::size_t kMaxCommittedBacklog = 4;

  Store& store_;
  const Clock& clock_;
  IdGenerator& ids_;
  const GroupCommitOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<chat::NewMessage, Done>> queue_;
  bool stopping_ = false;
  std::uint64_t commits_ = 0;
  std::uint64_t committed_messages_ = 0;

  std::mutex completer_mutex_;
  std::condition_variable committed_ready_;  // completer: a batch to complete, or writer done
  std::condition_variable backlog_room_;     // writer: the backlog shrank
  std::deque<Committed> committed_;
  bool writer_done_ = false;

  std::thread writer_;
  std::thread completer_;
};

}  // namespace parley
