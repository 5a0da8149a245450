// The RateLimiter contract (ratelimit/rate_limiter.hpp) on both implementations: the local one
// and the Redis one against the real Redis of PARLEY_TEST_REDIS (make test starts one). What
// needs time to pass is tested on the local limiter, whose clock is the test's.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>

#include "core/ids.hpp"
#include "core/time.hpp"
#include "ratelimit/local/local_rate_limiter.hpp"
#include "ratelimit/redis/redis_rate_limiter.hpp"

namespace parley::testing {
namespace {

using namespace ratelimit;
using namespace std::chrono_literals;

struct LimiterFactory {
  std::string name;
  std::function<std::shared_ptr<RateLimiter>(const Clock&)> make;  // null: skipped
};

class RateLimiterContract : public ::testing::TestWithParam<LimiterFactory> {
 protected:
  void SetUp() override {
    limiter_ = GetParam().make(clock_);
    if (!limiter_) GTEST_SKIP() << "PARLEY_TEST_REDIS is not set";
    // Keys unique to this run: a shared Redis keeps the last run's counters for a while.
    static std::atomic<int> run{0};
    prefix_ = std::to_string(SystemClock().now_ms()) + "-" + std::to_string(run++) + ":";
  }
  std::string key(const std::string& name) const { return prefix_ + name; }

  ManualClock clock_{1'790'000'000'000};
  std::shared_ptr<RateLimiter> limiter_;
  std::string prefix_;
};

TEST_P(RateLimiterContract, AQuotaAllowsItsLimitThenRefusesUntilTheWindowEnds) {
  const Quota q{3, 60s};
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter_->take(key("a"), q)->allowed) << i;
  auto refused = limiter_->take(key("a"), q);
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->allowed);
  EXPECT_GT(refused->retry_after, 0ms);
  EXPECT_LE(refused->retry_after, 60s);
  EXPECT_TRUE(limiter_->take(key("b"), q)->allowed);  // another key is not held up
  EXPECT_TRUE(limiter_->take(key("a"), Quota{0, 60s})->allowed);  // 0: unlimited
}

TEST_P(RateLimiterContract, AttemptsPastTheFreeOnesLockTheKeyUntilCleared) {
  const Backoff b{3, 15min, 10s, 1h};
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter_->attempt(key("k"), b)->allowed) << i;
  EXPECT_TRUE(limiter_->attempt(key("k"), b)->allowed);  // the 4th goes ahead, and locks
  auto locked = limiter_->attempt(key("k"), b);
  ASSERT_TRUE(locked.ok());
  EXPECT_FALSE(locked->allowed);
  EXPECT_GT(locked->retry_after, 9s);
  EXPECT_LE(locked->retry_after, 10s);
  EXPECT_TRUE(limiter_->attempt(key("other"), b)->allowed);
  ASSERT_TRUE(limiter_->clear(key("k")).ok());
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(limiter_->attempt(key("k"), b)->allowed) << i;
  EXPECT_FALSE(limiter_->attempt(key("k"), b)->allowed);
  EXPECT_TRUE(limiter_->attempt(key("off"), Backoff{0, 15min, 10s, 1h})->allowed);
}

TEST_P(RateLimiterContract, RefundedAttemptsDoNotCount) {
  const Backoff b{2, 15min, 10s, 1h};
  for (int i = 0; i < 10; ++i) {  // successes, each refunded: never locked
    ASSERT_TRUE(limiter_->attempt(key("r"), b)->allowed) << i;
    ASSERT_TRUE(limiter_->refund(key("r")).ok());
  }
  ASSERT_TRUE(limiter_->refund(key("r")).ok());  // never below zero
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter_->attempt(key("r"), b)->allowed) << i;
  EXPECT_FALSE(limiter_->attempt(key("r"), b)->allowed);
  ASSERT_TRUE(limiter_->refund(key("unknown")).ok());
}

INSTANTIATE_TEST_SUITE_P(
    Limiters, RateLimiterContract,
    ::testing::Values(
        LimiterFactory{"local",
                       [](const Clock& clock) { return std::make_shared<LocalRateLimiter>(clock); }},
        LimiterFactory{"redis",
                       [](const Clock&) -> std::shared_ptr<RateLimiter> {
                         const char* url = std::getenv("PARLEY_TEST_REDIS");
                         if (!url) return nullptr;
                         return std::make_shared<RedisRateLimiter>(parse_redis_url(url),
                                                                   "parley:test:rl:");
                       }}),
    [](const auto& p) { return p.param.name; });

// ---- the local limiter, with time moving

TEST(LocalRateLimiter, AQuotaWindowEndsAndALockRunsOut) {
  ManualClock clock{1'000'000};
  LocalRateLimiter limiter(clock);
  const Quota q{1, 1000ms};
  EXPECT_TRUE(limiter.take("q", q)->allowed);
  EXPECT_EQ(limiter.take("q", q)->retry_after, 1000ms);
  clock.advance(400);
  EXPECT_EQ(limiter.take("q", q)->retry_after, 600ms);
  clock.advance(600);
  EXPECT_TRUE(limiter.take("q", q)->allowed);

  const Backoff b{1, 60s, 1s, 4s};
  EXPECT_TRUE(limiter.attempt("b", b)->allowed);
  EXPECT_TRUE(limiter.attempt("b", b)->allowed);  // the 2nd locks for 1 s
  EXPECT_EQ(limiter.attempt("b", b)->retry_after, 1000ms);
  clock.advance(1000);
  EXPECT_TRUE(limiter.attempt("b", b)->allowed);  // remembered: this one locks for 2 s
  EXPECT_EQ(limiter.attempt("b", b)->retry_after, 2000ms);
  clock.advance(2000);
  EXPECT_TRUE(limiter.attempt("b", b)->allowed);  // 4 s
  clock.advance(4000);
  EXPECT_TRUE(limiter.attempt("b", b)->allowed);  // 8 s, capped at 4
  EXPECT_EQ(limiter.attempt("b", b)->retry_after, 4000ms);
  clock.advance(4000 + 60'000);  // a window after the lock ended: the count starts again
  EXPECT_TRUE(limiter.attempt("b", b)->allowed);
  EXPECT_TRUE(limiter.attempt("b", b)->allowed);
  EXPECT_EQ(limiter.attempt("b", b)->retry_after, 1000ms);
}

TEST(LocalRateLimiter, ABackoffAtItsCapStaysThereWhenTheLockOutlastsTheWindow) {
  ManualClock clock{1'000'000};
  LocalRateLimiter limiter(clock);
  const Backoff b{2, 1000ms, 1000ms, 8000ms};  // locks grow past the window
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.attempt("k", b)->allowed);
  for (const TimeMs lock : {1000, 2000, 4000, 8000, 8000, 8000}) {
    EXPECT_EQ(limiter.attempt("k", b)->retry_after.count(), lock);
    clock.advance(lock);
    EXPECT_TRUE(limiter.attempt("k", b)->allowed) << "after " << lock;  // and it locks again
  }
}

TEST(LocalRateLimiter, KeepsAtMostItsKeys) {
  ManualClock clock{1'000'000};
  LocalRateLimiter limiter(clock, 100);
  for (int i = 0; i < 1000; ++i) {
    (void)limiter.take("k" + std::to_string(i), Quota{5, 60s});
    clock.advance(1);
  }
  EXPECT_LE(limiter.keys(), 100u);
  // The newest keys are kept: their counts still hold.
  EXPECT_TRUE(limiter.take("k999", Quota{1, 60s})->allowed == false);
}

TEST(Backoff, LocksDoubleFromTheFirstPastTheFreeOnesUpToTheMax) {
  const Backoff b{2, 60s, 1s, 5s};
  EXPECT_EQ(lock_after(b, 2), 0ms);
  EXPECT_EQ(lock_after(b, 3), 1s);
  EXPECT_EQ(lock_after(b, 4), 2s);
  EXPECT_EQ(lock_after(b, 5), 4s);
  EXPECT_EQ(lock_after(b, 6), 5s);
  EXPECT_EQ(lock_after(b, 1000), 5s);
  EXPECT_EQ(lock_after(Backoff{0, 60s, 1s, 5s}, 1000), 0ms);  // off
}

}  // namespace
}  // namespace parley::testing
