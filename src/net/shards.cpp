#include "net/shards.hpp"

namespace parley::net {

ShardPool::ShardPool(std::size_t count) {
  for (std::size_t i = 0; i < std::max<std::size_t>(1, count); ++i) {
    // concurrency hint 1: each context is run by one thread, so Asio can skip internal locking.
    contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
    guards_.emplace_back(contexts_.back()->get_executor());
  }
}

ShardPool::~ShardPool() {
  stop();
  join();
}

void ShardPool::start() {
  for (auto& ctx : contexts_) threads_.emplace_back([c = ctx.get()] { c->run(); });
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
