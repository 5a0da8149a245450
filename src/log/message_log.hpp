#pragma once
// MessageLog: the durable, ordered intake of sent messages (docs/architecture.md, "The send
// path").
//
// append() hands one message to the log; `done` is called exactly once, on a log-owned thread,
// with the stored message (its id, seq and ts) only after it is durable — or with the stored
// original, marked duplicate, when (conv, sender, client_msg_id) was seen before — or with an
// error, in which case the send was not acknowledged (and, for the cluster log, may still be
// stored later: a retry with the same client_msg_id tells). Callers post the result back to
// their own thread.
//
// Subscribers hear of every newly stored message (never of a duplicate), on the node that gave
// it its seq, in seq order per conversation. Each is told whether it may block:
//   - Blocking::forbidden: runs on the thread that committed the message, before its `done` —
//     where message events are published, so that every recipient gets them in order and before
//     the sender's ack. One conversation's messages always come from one thread (the embedded
//     writer; the cluster sequencer's lane of its partition); several lanes may call at once, for
//     different conversations. It must only hand work over (a post, a bus publish).
//   - Blocking::allowed: runs on a thread of its own (CommitQueue), after the commit, in the same
//     order; it may block (push notifications call out over HTTP). Its queue is bounded: when the
//     subscriber falls behind by more than its bound, messages are dropped for it and counted.
// Implementations: log/local (embedded: a group-committing writer thread over the Store);
// log/kafka (cluster: Kafka, and a sequencer in every node). Thread-safe: append from any thread;
// subscribe before the first append.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "chat/types.hpp"
#include "core/result.hpp"

namespace parley {

// A subscriber that may block, on its own thread behind a bounded queue (see MessageLog).
class CommitQueue {
 public:
  using Handler = std::function<void(const chat::Message&)>;
  CommitQueue(std::string name, Handler handler, std::size_t max_queued);
  ~CommitQueue();  // finishes what is queued, then stops the thread
  CommitQueue(const CommitQueue&) = delete;
  CommitQueue& operator=(const CommitQueue&) = delete;

  // From the log's thread: queues m, or drops it (counted) when max_queued wait already. The
  // thread takes what waits in one batch: at most max_queued more are held while it works.
  void offer(const chat::Message& m);
  // Blocks until everything offered so far was handled (tests, shutdown).
  void wait_idle();
  std::uint64_t dropped() const;
  const std::string& name() const { return name_; }

 private:
  void run();

  const std::string name_;
  Handler handler_;
  const std::size_t max_queued_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<chat::Message> queue_;  // guarded by mutex_
  bool busy_ = false;                // guarded by mutex_: a message is being handled
  bool stopping_ = false;            // guarded by mutex_
  std::uint64_t dropped_ = 0;        // guarded by mutex_
  std::thread thread_;
};

class MessageLog {
 public:
  using Done = std::function<void(Result<chat::Appended>)>;
  using Sequenced = std::function<void(const chat::Message&)>;
  enum class Blocking { forbidden, allowed };
  virtual ~MessageLog() = default;

  // Before the first append. `name` is for logs and /metrics; `max_queued` bounds a subscriber
  // that may block.
  void subscribe(std::string name, Blocking blocking, Sequenced on_message,
                 std::size_t max_queued = 10'000);
  // The subscribers that may block, for /metrics (dropped messages) and tests.
  const std::vector<std::unique_ptr<CommitQueue>>& queued_subscribers() const { return queued_; }

  virtual void append(chat::NewMessage message, Done done) = 0;
  // Stops taking new messages, finishes what was accepted, then returns.
  virtual void drain() = 0;

  // For /metrics: transactions this node committed, and the messages in them (new and retried).
  virtual std::uint64_t commits() const = 0;
  virtual std::uint64_t committed_messages() const = 0;

 protected:
  // Implementations call this for each result of a commit, in order, before its `done`: it tells
  // every subscriber of a newly stored message, and of nothing else.
  void sequenced(const Result<chat::Appended>& r) const {
    if (!r || r->duplicate) return;
    for (const auto& subscriber : inline_) subscriber(r->msg);
    for (const auto& queue : queued_) queue->offer(r->msg);
  }

 private:
  std::vector<Sequenced> inline_;
  std::vector<std::unique_ptr<CommitQueue>> queued_;
};

}  // namespace parley
