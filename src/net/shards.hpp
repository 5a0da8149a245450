#pragma once
// ShardPool: one io_context per core, each run by exactly one thread (DESIGN.md §3, "Threads").
// A connection is pinned to one shard for life, so per-connection and per-shard state needs no
// locks: code running on shard i touches only shard i's state; other threads hand work over with
// asio::post(context(i), …).
// Thread-safety: size(), context() and pick() from any thread; start()/stop()/join() from the
// thread that owns the pool.

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <thread>
#include <vector>

namespace parley::net {

class ShardPool {
 public:
  explicit ShardPool(std::size_t count);
  ~ShardPool();
  ShardPool(const ShardPool&) = delete;
  ShardPool& operator=(const ShardPool&) = delete;

  std::size_t size() const { return contexts_.size(); }
  boost::asio::io_context& context(std::size_t shard) { return *contexts_[shard]; }
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
  std::vector<Guard> guards_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace parley::net
