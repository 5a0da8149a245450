#pragma once
// LocalRateLimiter: the RateLimiter of one node (ratelimit/rate_limiter.hpp), its counters in
// memory. Bounded: at max_keys it forgets the entries whose window and lock are over, and if
// more than three quarters are still live, the least recently used down to half — a flood of
// fresh keys can cost counters, never the node's memory (and a key in use is never the one
// forgotten first).
//
// Threads: thread-safe (one mutex); never blocks on I/O, so it may be called from a shard.

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/time.hpp"
#include "ratelimit/rate_limiter.hpp"

namespace parley::ratelimit {

class LocalRateLimiter final : public RateLimiter {
 public:
  explicit LocalRateLimiter(const Clock& clock, std::size_t max_keys = 200'000)
      : clock_(clock), max_keys_(max_keys) {}

  bool blocks() const override { return false; }
  Result<Decision> take(std::string_view key, const Quota& q) override;
  Result<Decision> attempt(std::string_view key, const Backoff& b) override;
  Status refund(std::string_view key) override;
  Status clear(std::string_view key) override;

  std::size_t keys() const;

 private:
  struct Entry {
    std::int64_t count = 0;   // events (Quota) or attempts (Backoff) in the current window
    TimeMs window_end = 0;
    TimeMs locked_until = 0;  // Backoff only
    TimeMs touched = 0;
  };
  Entry& entry(std::string_view key, TimeMs now);  // mutex_ held
  void trim(TimeMs now);                           // mutex_ held

  const Clock& clock_;
  const std::size_t max_keys_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace parley::ratelimit
