#include "redis/redis_client.hpp"

#include <hiredis/hiredis.h>

#include <stdexcept>
#include <string_view>

namespace parley {

RedisAddress parse_redis_url(const std::string& url) {
  constexpr std::string_view scheme = "redis://";
  if (!url.starts_with(scheme)) throw std::invalid_argument("not a redis:// URL: " + url);
  std::string rest = url.substr(scheme.size());
  if (const auto slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  RedisAddress a;
  const auto colon = rest.rfind(':');
  a.host = rest.substr(0, colon);
  if (colon != std::string::npos) {
    try {
      a.port = std::stoi(rest.substr(colon + 1));
    } catch (const std::exception&) {
      throw std::invalid_argument("bad port in " + url);
    }
  }
  if (a.host.empty() || a.port <= 0 || a.port > 65535) {
    throw std::invalid_argument("bad host or port in " + url);
  }
  return a;
}

void RedisContextDeleter::operator()(redisContext* c) const { redisFree(c); }

void RedisReplyDeleter::operator()(redisReply* r) const { freeReplyObject(r); }

RedisConnection connect_redis(const RedisAddress& address, std::chrono::milliseconds timeout) {
  const timeval tv{static_cast<time_t>(timeout.count() / 1000),
                   static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  RedisConnection c(redisConnectWithTimeout(address.host.c_str(), address.port, tv));
  if (!c || c->err) return nullptr;
  return c;
}

}  // namespace parley
