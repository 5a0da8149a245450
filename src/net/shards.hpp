#pragma once
// ShardPool: one io_context per core, each run by exactly one thread (docs/architecture.md §2).
// A connection is pinned to one shard for life, so per-connection and per-shard state needs no
// locks: code running on shard i touches only shard i's state; other threads hand work over with
// mailbox(i).post(…) (hot paths: many tasks, one wake-up) or asio::post(context(i), …).
// Thread-safety: size(), context() and pick() from any thread; start()/stop()/join() from the
// thread that owns the pool.

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace parley::net {

// A shard's queue of work from other threads. Tasks handed over while the shard has not yet
// taken the previous ones share one Asio handler and one wake-up: the log's completer hands a
// whole commit batch of acks and events to a shard for about the price of one post (an
// asio::post each cost a handler allocation, the scheduler's lock and often a wake-up).
// Order: tasks run in the order they were posted, and before anything the posting thread hands
// the shard's io_context afterwards with asio::post. (Not the other way round: a task may join a
// run() already queued ahead of an earlier asio::post.) Work whose order matters — a session's
// events and acks — therefore goes through the mailbox only.
// Thread-safety: post() from any thread; tasks run on the shard.
class Mailbox {
 public:
  using Task = std::function<void()>;
  explicit Mailbox(boost::asio::io_context& shard) : shard_(shard) {}
  void post(Task task);

 private:
  void run();  // on the shard

  boost::asio::io_context& shard_;
  std::mutex mutex_;
  std::vector<Task> tasks_;  // guarded by mutex_
  bool scheduled_ = false;   // guarded by mutex_: a run() is posted and has not taken tasks_
  std::vector<Task> running_;  // the shard's: tasks_ swapped out (keeps its capacity)
};

class ShardPool {
 public:
  explicit ShardPool(std::size_t count);
  ~ShardPool();
  ShardPool(const ShardPool&) = delete;
  ShardPool& operator=(const ShardPool&) = delete;

  std::size_t size() const { return contexts_.size(); }
  boost::asio::io_context& context(std::size_t shard) { return *contexts_[shard]; }
  Mailbox& mailbox(std::size_t shard) { return *mailboxes_[shard]; }
  // Round-robin choice of a shard for a new connection.
  std::size_t pick() { return next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size(); }

  void start();
  // Lets the shards finish when they run out of work (the guards go away).
  void release();
  // Stops every shard now.
  void stop();
  void join();

 private:
  using Guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<std::unique_ptr<Mailbox>> mailboxes_;
  std::vector<Guard> guards_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace parley::net
