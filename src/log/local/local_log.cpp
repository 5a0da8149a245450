#include "log/local/local_log.hpp"

#include <vector>

#include "core/threads.hpp"

namespace parley {

LocalLog::LocalLog(Store& store, const Clock& clock, IdGenerator& ids, GroupCommitOptions options)
    : store_(store), clock_(clock), ids_(ids), options_(options) {
  completer_ = named_thread("log-completer", [this] { run_completer(); });
  writer_ = named_thread("log-writer", [this] { run_writer(); });
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
  if (writer_.joinable()) writer_.join();  // it tells the completer when it is done
  if (completer_.joinable()) completer_.join();
}

std::uint64_t LocalLog::commits() const {
  std::lock_guard lock(mutex_);
  return commits_;
}

std::uint64_t LocalLog::committed_messages() const {
  std::lock_guard lock(mutex_);
  return committed_messages_;
}

void LocalLog::run_writer() {
  std::vector<chat::NewMessage> batch;
  for (;;) {
    Committed done;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;  // stopping, and everything accepted is committed
      if (options_.max_delay.count() > 0 && queue_.size() < options_.max_batch && !stopping_) {
        // Give concurrent senders a moment to join this transaction.
        wake_.wait_for(lock, options_.max_delay,
                       [this] { return stopping_ || queue_.size() >= options_.max_batch; });
      }
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front().first));
        done.completions.push_back(std::move(queue_.front().second));
        queue_.pop_front();
      }
    }
    done.results = store_.append_messages(batch, clock_.now_ms(), ids_, {});
    {
      std::lock_guard lock(mutex_);
      ++commits_;
      committed_messages_ += batch.size();
    }
    batch.clear();
    std::unique_lock lock(completer_mutex_);
    backlog_room_.wait(lock, [this] { return committed_.size() < kMaxCommittedBacklog; });
    committed_.push_back(std::move(done));
    lock.unlock();
    committed_ready_.notify_one();
  }
  {
    std::lock_guard lock(completer_mutex_);
    writer_done_ = true;
  }
  committed_ready_.notify_one();
}

void LocalLog::run_completer() {
  for (;;) {
    Committed batch;
    {
      std::unique_lock lock(completer_mutex_);
      committed_ready_.wait(lock, [this] { return writer_done_ || !committed_.empty(); });
      if (committed_.empty()) return;  // the writer is done and so is every completion
      batch = std::move(committed_.front());
      committed_.pop_front();
    }
    backlog_room_.notify_one();
    for (std::size_t i = 0; i < batch.completions.size(); ++i) {
      sequenced(batch.results[i]);
      batch.completions[i](std::move(batch.results[i]));
    }
  }
}

}  // namespace parley
