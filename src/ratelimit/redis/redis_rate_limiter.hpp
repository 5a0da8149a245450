#pragma once
// RedisRateLimiter: the RateLimiter of a cluster (ratelimit/rate_limiter.hpp). Every node counts
// in the same Redis (the bus's), so a limit holds however requests spread over the nodes. Each
// rule is one Lua script, atomic in Redis, timed by Redis's clock; keys expire on their own.
//
// When Redis cannot be reached the limiter lets requests through (logged once per outage as
// event=rate_limiter_unavailable) and tries again only after kRetryPause, so a Redis that is away
// costs one connect timeout per pause, not one per request: the nodes keep serving, as the bus
// does, and password hashing stays bounded by the node's own hashing pool.
//
// Threads: thread-safe (one connection under a mutex); blocks on a round trip: call from the
// blocking pool.

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "ratelimit/rate_limiter.hpp"
#include "redis/redis_client.hpp"

namespace parley::ratelimit {

class RedisRateLimiter final : public RateLimiter {
 public:
  explicit RedisRateLimiter(RedisAddress address, std::string prefix = "parley:rl:");
  ~RedisRateLimiter() override;

  bool blocks() const override { return true; }
  Result<Decision> take(std::string_view key, const Quota& q) override;
  Result<Decision> attempt(std::string_view key, const Backoff& b) override;
  Status refund(std::string_view key) override;
  Status clear(std::string_view key) override;

  static constexpr std::chrono::seconds kRetryPause{2};

 private:
  // Runs one command; null when Redis cannot be reached (or was not within kRetryPause) or
  // answers an error (logged).
  RedisReply run(const std::vector<std::string>& argv);

  const RedisAddress address_;
  const std::string prefix_;
  std::mutex mutex_;
  RedisConnection connection_;  // connected on first use, again after an error
  bool reported_down_ = false;
  std::chrono::steady_clock::time_point next_try_{};  // after a failure: not before this
};

}  // namespace parley::ratelimit
