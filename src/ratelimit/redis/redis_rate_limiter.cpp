#include "ratelimit/redis/redis_rate_limiter.hpp"

#include <hiredis/hiredis.h>

#include "core/logging.hpp"

namespace parley::ratelimit {

namespace {

// KEYS: the counter. ARGV: limit, window ms. Returns {allowed 0|1, ms until the window ends}.
constexpr const char* kTake = R"lua(
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return {0, redis.call('PTTL', KEYS[1])} end
n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {1, 0}
)lua";

// KEYS: attempts, lock. ARGV: free failures, window ms, first lock ms, max lock ms. Returns
// {allowed 0|1, ms the lock has left}. The same arithmetic as ratelimit::lock_after and
// LocalRateLimiter::attempt.
constexpr const char* kAttempt = R"lua(
local locked = redis.call('PTTL', KEYS[2])
if locked > 0 then return {0, locked} end
local n = redis.call('INCR', KEYS[1])
local free = tonumber(ARGV[1])
local lock = 0
if n > free then
  lock = math.floor(math.min(tonumber(ARGV[3]) * 2 ^ math.min(n - free - 1, 30), tonumber(ARGV[4])))
  redis.call('SET', KEYS[2], '1', 'PX', lock)
end
redis.call('PEXPIRE', KEYS[1], lock + tonumber(ARGV[2]))
return {1, 0}
)lua";

// KEYS: attempts. Takes one back, never below zero.
constexpr const char* kRefund = R"lua(
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
return 0
)lua";

constexpr timeval kCommandTimeout{1, 0};

}  // namespace

RedisRateLimiter::RedisRateLimiter(RedisAddress address, std::string prefix)
    : address_(std::move(address)), prefix_(std::move(prefix)) {}

RedisRateLimiter::~RedisRateLimiter() = default;

RedisReply RedisRateLimiter::run(const std::vector<std::string>& argv) {
  if (!connection_) {
    if (std::chrono::steady_clock::now() < next_try_) return nullptr;
    connection_ = connect_redis(address_);
    if (connection_) redisSetTimeout(connection_.get(), kCommandTimeout);
  }
  RedisReply reply;
  if (connection_) {
    std::vector<const char*> args;
    std::vector<std::size_t> lens;
    for (const auto& a : argv) {
      args.push_back(a.data());
      lens.push_back(a.size());
    }
    reply.reset(static_cast<redisReply*>(redisCommandArgv(
        connection_.get(), static_cast<int>(args.size()), args.data(), lens.data())));
  }
  if (!reply) {
    if (!reported_down_) {
      log::warn("event=rate_limiter_unavailable host={} port={} error=\"{}\"", address_.host,
                address_.port, connection_ ? connection_->errstr : "cannot connect");
      reported_down_ = true;
    }
    connection_.reset();
    next_try_ = std::chrono::steady_clock::now() + kRetryPause;
    return nullptr;
  }
  if (reported_down_) log::info("event=rate_limiter_available host={}", address_.host);
  reported_down_ = false;
  if (reply->type == REDIS_REPLY_ERROR) {
    log::warn("event=rate_limiter_error error=\"{}\"", std::string_view(reply->str, reply->len));
    return nullptr;
  }
  return reply;
}

Result<Decision> RedisRateLimiter::take(std::string_view key, const Quota& q) {
  if (q.limit <= 0) return Decision{};
  std::lock_guard lock(mutex_);
  auto reply = run({"EVAL", kTake, "1", prefix_ + "q:" + std::string(key),
                    std::to_string(q.limit), std::to_string(q.window.count())});
  if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) return Decision{};
  if (reply->element[0]->integer == 1) return Decision{};
  return Decision{false, milliseconds(std::max<long long>(reply->element[1]->integer, 1))};
}

Result<Decision> RedisRateLimiter::attempt(std::string_view key, const Backoff& b) {
  if (b.free_failures <= 0) return Decision{};
  std::lock_guard lock(mutex_);
  auto reply = run({"EVAL", kAttempt, "2", prefix_ + "try:" + std::string(key),
                    prefix_ + "lock:" + std::string(key), std::to_string(b.free_failures),
                    std::to_string(b.window.count()), std::to_string(b.first_lock.count()),
                    std::to_string(b.max_lock.count())});
  if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) return Decision{};
  if (reply->element[0]->integer == 1) return Decision{};
  return Decision{false, milliseconds(std::max<long long>(reply->element[1]->integer, 1))};
}

Status RedisRateLimiter::refund(std::string_view key) {
  std::lock_guard lock(mutex_);
  run({"EVAL", kRefund, "1", prefix_ + "try:" + std::string(key)});
  return ok_status();
}

Status RedisRateLimiter::clear(std::string_view key) {
  std::lock_guard lock(mutex_);
  run({"DEL", prefix_ + "try:" + std::string(key), prefix_ + "lock:" + std::string(key)});
  return ok_status();
}

}  // namespace parley::ratelimit
