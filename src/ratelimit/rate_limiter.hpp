#pragma once
// RateLimiter: counters that say "not now" (docs/operations.md, "Rate limits"). Two kinds of
// rule, each applied to a key the caller builds ("login:addr:192.0.2.7", "register:addr:…"):
//   - a Quota: at most `limit` events per fixed window, then refused until the window ends
//     (registrations per address, refreshes, the encryption service per user);
//   - a Backoff: attempts (logins) counted per key as they start — checked and counted in one
//     atomic step, so attempts sent together cannot all slip past a lock. Past `free_failures`
//     within `window`, each further attempt locks the key for twice as long as the last, up to
//     `max_lock`. An attempt that turns out not to be a failure is refunded; a success may clear
//     the key. Counts are kept for `window` after the last attempt's lock ends, so the back-off
//     stays at its cap instead of starting over. Online guessing slows to a trickle while the
//     key's owner, from a key that has not failed (another address), is not held up.
// Implementations: ratelimit/local (one node, in memory) and ratelimit/redis (the counters in
// Redis, so limits hold across the nodes of a cluster). Both pass
// tests/contract/rate_limiter_contract.cpp.
//
// Threads: thread-safe. The Redis implementation blocks on a round trip: call from the blocking
// pool.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "core/result.hpp"

namespace parley::ratelimit {

using std::chrono::milliseconds;

struct Decision {
  bool allowed = true;
  milliseconds retry_after{0};  // when refused: how long until the key is free again
};

struct Quota {
  std::int64_t limit = 0;  // events per window; 0: unlimited
  milliseconds window{60'000};
};

struct Backoff {
  std::int64_t free_failures = 0;  // failures within the window that cost nothing; 0: off
  milliseconds window{15 * 60'000};
  milliseconds first_lock{1000};
  milliseconds max_lock{15 * 60'000};
};

// How long the key is locked after its `failures`-th failure within the window (0: not locked).
inline milliseconds lock_after(const Backoff& b, std::int64_t failures) {
  if (b.free_failures <= 0 || failures <= b.free_failures) return milliseconds(0);
  const std::int64_t doublings = std::min<std::int64_t>(failures - b.free_failures - 1, 40);
  const auto lock = b.first_lock.count() << std::min<std::int64_t>(doublings, 30);
  return std::min(milliseconds(lock), b.max_lock);
}

class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  // Whether calls may block on I/O (then call from the blocking pool, not a shard).
  virtual bool blocks() const = 0;
  // Counts one event against key under q; refused (and not counted further) past its limit.
  virtual Result<Decision> take(std::string_view key, const Quota& q) = 0;
  // One attempt under b: refused while key is locked (nothing counted); else counted, locking
  // the key for the attempts after it once past the free ones.
  virtual Result<Decision> attempt(std::string_view key, const Backoff& b) = 0;
  // Takes back one counted attempt that was not a failure (never below zero; a lock stays).
  virtual Status refund(std::string_view key) = 0;
  // Forgets key's attempts and lock.
  virtual Status clear(std::string_view key) = 0;
};

}  // namespace parley::ratelimit
