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

// KEYS: failures, lock. ARGV: free failures, window ms, first lock ms, max lock ms. The same
// arithmetic as ratelimit::lock_after.
constexpr const char* kFailed = R"lua(
local n = redis.call('INCR', KEYS[1])
local free = tonumber(ARGV[1])
local lock = 0
if n > free then
  lock = math.min(tonumber(ARGV[3]) * 2 ^ math.min(n - free - 1, 30), tonumber(ARGV[4]))
  redis.call('SET', KEYS[2], '1', 'PX', math.floor(lock))
end
redis.call('PEXPIRE', KEYS[1], math.floor(math.max(tonumber(ARGV[2]), lock)))
return n
)lua";

constexpr timeval kCommandTimeout{1, 0};

}  // namespace

RedisRateLimiter::RedisRateLimiter(RedisAddress address, std::string prefix)
    : address_(std::move(address)), prefix_(std::move(prefix)) {}

RedisRateLimiter::~RedisRateLimiter() = default;

RedisReply RedisRateLimiter::run(const std::vector<std::string>& argv) {
  if (!connection_) {
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

Result<Decision> RedisRateLimiter::locked(std::string_view key) {
  std::lock_guard lock(mutex_);
  auto reply = run({"PTTL", prefix_ + "lock:" + std::string(key)});
  if (!reply || reply->type != REDIS_REPLY_INTEGER || reply->integer <= 0) return Decision{};
  return Decision{false, milliseconds(reply->integer)};
}

Status RedisRateLimiter::failed(std::string_view key, const Backoff& b) {
  if (b.free_failures <= 0) return ok_status();
  std::lock_guard lock(mutex_);
  run({"EVAL", kFailed, "2", prefix_ + "fail:" + std::string(key),
       prefix_ + "lock:" + std::string(key), std::to_string(b.free_failures),
       std::to_string(b.window.count()), std::to_string(b.first_lock.count()),
       std::to_string(b.max_lock.count())});
  return ok_status();
}

Status RedisRateLimiter::succeeded(std::string_view key) {
  std::lock_guard lock(mutex_);
  run({"DEL", prefix_ + "fail:" + std::string(key), prefix_ + "lock:" + std::string(key)});
  return ok_status();
}

}  // namespace parley::ratelimit
