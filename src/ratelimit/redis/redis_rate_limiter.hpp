#pragma once
// RedisRateLimiter: the RateLimiter of a cluster (ratelimit/rate_limiter.hpp). Every node counts
// in the same Redis (the bus's), so a limit holds however requests spread over the nodes. Each
// rule is one Lua script, atomic in Redis, timed by Redis's clock; keys expire on their own.
//
// When Redis cannot be reached the limiter lets requests through (logged once per outage as
// event=rate_limiter_unavailable): the nodes keep serving while Redis is away, as the bus does,
// and password hashing stays bounded by the node's own hashing pool.
//
// Threads: thread-safe (one connection under a mutex); blocks on a round trip: call from the
// blocking pool.

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

  Result<Decision> take(std::string_view key, const Quota& q) override;
  Result<Decision> locked(std::string_view key) override;
  Status failed(std::string_view key, const Backoff& b) override;
  Status succeeded(std::string_view key) override;

 private:
  // Runs one command; null when Redis cannot be reached or answers an error (logged).
  RedisReply run(const std::vector<std::string>& argv);

  const RedisAddress address_;
  const std::string prefix_;
  std::mutex mutex_;
  RedisConnection connection_;  // connected on first use, again after an error
  bool reported_down_ = false;
};

}  // namespace parley::ratelimit
