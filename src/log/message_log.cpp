#include "log/message_log.hpp"

#include "core/failures.hpp"
#include "core/threads.hpp"

namespace parley {

CommitQueue::CommitQueue(std::string name, Handler handler, std::size_t max_queued)
    : name_(std::move(name)), handler_(std::move(handler)), max_queued_(max_queued),
      thread_(named_thread("log-" + name_, [this] { run(); })) {}

CommitQueue::~CommitQueue() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void CommitQueue::offer(const chat::Message& m) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= max_queued_) {
      ++dropped_;
      return;
    }
    // Only an idle thread needs waking: a busy one looks at the queue when its batch is done.
    // (A wake-up per message was most of this queue's cost.)
    wake = queue_.empty() && !busy_;
    queue_.push_back(m);
  }
  if (wake) wake_.notify_one();
}

void CommitQueue::wait_idle() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] { return queue_.empty() && !busy_; });
}

std::uint64_t CommitQueue::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

void CommitQueue::run() {
  std::deque<chat::Message> batch;
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything handled
    // Everything waiting, handled in order without the lock.
    batch.swap(queue_);
    busy_ = true;
    lock.unlock();
    for (const auto& m : batch) {
      try {
        handler_(m);
      } catch (...) {
        note_unexpected_exception(name_, std::current_exception());
      }
    }
    batch.clear();
    lock.lock();
    busy_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
}

void MessageLog::subscribe(std::string name, Blocking blocking, Sequenced on_message,
                           std::size_t max_queued) {
  if (blocking == Blocking::forbidden) {
    inline_.push_back(std::move(on_message));
  } else {
    queued_.push_back(
        std::make_unique<CommitQueue>(std::move(name), std::move(on_message), max_queued));
  }
}

}  // namespace parley
