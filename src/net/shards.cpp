#include "net/shards.hpp"

#include <boost/asio/post.hpp>
#include <string>

#include "core/threads.hpp"

namespace parley::net {

void Mailbox::post(Task task) {
  std::unique_lock lock(mutex_);
  tasks_.push_back(std::move(task));
  if (scheduled_) return;  // the posted run() has not taken tasks_ yet: it will take this one
  scheduled_ = true;
  lock.unlock();
  boost::asio::post(shard_, [this] { run(); });
}

void Mailbox::run() {
  {
    std::lock_guard lock(mutex_);
    running_.swap(tasks_);
    // Cleared under the lock that took the tasks: a task posted from now on posts a new run(),
    // which then follows anything its thread posted before — that keeps the order promise.
    scheduled_ = false;
  }
  for (auto& task : running_) task();
  running_.clear();
  if (running_.capacity() > 4096) running_ = {};  // a burst was rare; do not keep its memory
}

ShardPool::ShardPool(std::size_t count) {
  for (std::size_t i = 0; i < std::max<std::size_t>(1, count); ++i) {
    // concurrency hint 1: each context is run by one thread, so Asio can skip internal locking.
    contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
    mailboxes_.push_back(std::make_unique<Mailbox>(*contexts_.back()));
    guards_.emplace_back(contexts_.back()->get_executor());
  }
}

ShardPool::~ShardPool() {
  stop();
  join();
}

void ShardPool::start() {
  for (std::size_t i = 0; i < contexts_.size(); ++i) {
    threads_.push_back(
        named_thread("shard-" + std::to_string(i), [c = contexts_[i].get()] { c->run(); }));
  }
}

void ShardPool::release() { guards_.clear(); }

void ShardPool::stop() {
  for (auto& ctx : contexts_) ctx->stop();
}

void ShardPool::join() {
  for (auto& t : threads_) {
    if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
  }
  threads_.clear();
}

}  // namespace parley::net
