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

TEST_P(RateLimiterContract, FailuresPastTheFreeOnesLockTheKeyUntilASuccess) {
  const Backoff b{3, 15min, 10s, 1h};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(limiter_->failed(key("k"), b).ok());
    EXPECT_TRUE(limiter_->locked(key("k"))->allowed) << "free failure " << i;
  }
  ASSERT_TRUE(limiter_->failed(key("k"), b).ok());
  auto locked = limiter_->locked(key("k"));
  EXPECT_FALSE(locked->allowed);
  EXPECT_GT(locked->retry_after, 9s);
  EXPECT_LE(locked->retry_after, 10s);
  ASSERT_TRUE(limiter_->failed(key("k"), b).ok());  // the next one doubles it
  EXPECT_GT(limiter_->locked(key("k"))->retry_after, 19s);
  EXPECT_TRUE(limiter_->locked(key("other"))->allowed);
  ASSERT_TRUE(limiter_->succeeded(key("k")).ok());
  EXPECT_TRUE(limiter_->locked(key("k"))->allowed);
  EXPECT_TRUE(limiter_->failed(key("k"), b).ok());  // counting starts over
  EXPECT_TRUE(limiter_->locked(key("k"))->allowed);
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
  (void)limiter.failed("b", b);
  (void)limiter.failed("b", b);
  EXPECT_EQ(limiter.locked("b")->retry_after, 1000ms);
  clock.advance(1000);
  EXPECT_TRUE(limiter.locked("b")->allowed);
  (void)limiter.failed("b", b);  // remembered: 2 s now
  EXPECT_EQ(limiter.locked("b")->retry_after, 2000ms);
  clock.advance(2000);
  (void)limiter.failed("b", b);
  (void)limiter.failed("b", b);  // 8 s, capped at 4
  EXPECT_EQ(limiter.locked("b")->retry_after, 4000ms);
  clock.advance(61'000);  // the window is over: the count starts again
  (void)limiter.failed("b", b);
  EXPECT_TRUE(limiter.locked("b")->allowed);
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
