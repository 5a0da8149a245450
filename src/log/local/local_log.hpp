#pragma once
// LocalLog: the embedded MessageLog. One writer thread drains the queue — up to max_batch
// messages, waiting at most max_delay for more once the first arrives — and commits them to the
// Store in one transaction (group commit: one fsync for many messages). Then it runs each
// completion in order. It is the single writer that assigns seqs (DESIGN.md §2.3).
// Thread-safety: append() and drain() from any thread; completions run on the writer thread.

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

  // Observability for tests and /metrics: transactions committed and messages in them.
  std::uint64_t commits() const;
  std::uint64_t committed_messages() const;

 private:
  void run();

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
  std::thread writer_;
};

}  // namespace parley
