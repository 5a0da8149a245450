#include "log/local/local_log.hpp"

#include <vector>

namespace parley {

LocalLog::LocalLog(Store& store, const Clock& clock, IdGenerator& ids, GroupCommitOptions options)
    : store_(store), clock_(clock), ids_(ids), options_(options) {
  writer_ = std::thread([this] { run(); });
}

LocalLog::~LocalLog() { drain(); }

void LocalLog::append(chat::NewMessage message, Done done) {
  std::unique_lock lock(mutex_);
  if (stopping_) {
    lock.unlock();
    done(make_error(Errc::unavailable, "server is shutting down"));
    return;
  }
  queue_.emplace_back(std::move(message), std::move(done));
  // Wake the writer only when it has something new to do: the first message after it went idle
  // (the queue was empty), or a full batch during its group-commit wait. Every other message
  // just joins the batch; waking the writer for each cost a context switch per message.
  const bool wake = queue_.size() == 1 || queue_.size() == options_.max_batch;
  lock.unlock();
  if (wake) wake_.notify_one();
}

void LocalLog::drain() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (writer_.joinable()) writer_.join();
}

std::uint64_t LocalLog::commits() const {
  std::lock_guard lock(mutex_);
  return commits_;
}

std::uint64_t LocalLog::committed_messages() const {
  std::lock_guard lock(mutex_);
  return committed_messages_;
}

void LocalLog::run() {
  std::vector<chat::NewMessage> batch;
  std::vector<Done> completions;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything accepted is committed
      if (options_.max_delay.count() > 0 && queue_.size() < options_.max_batch && !stopping_) {
        // Give concurrent senders a moment to join this transaction.
        wake_.wait_for(lock, options_.max_delay,
                       [this] { return stopping_ || queue_.size() >= options_.max_batch; });
      }
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front().first));
        completions.push_back(std::move(queue_.front().second));
        queue_.pop_front();
      }
    }
    auto results = store_.append_messages(batch, clock_.now_ms(), ids_);
    {
      std::lock_guard lock(mutex_);
      ++commits_;
      committed_messages_ += batch.size();
    }
    for (std::size_t i = 0; i < completions.size(); ++i) completions[i](std::move(results[i]));
    batch.clear();
    completions.clear();
  }
}

}  // namespace parley
