#pragma once
// The pieces every Redis user in Parley shares (the cluster bus and cluster presence): the
// redis:// URL and a hiredis connection that frees itself. hiredis stays out of this header.
// Thread-safety: a connection belongs to one thread at a time (its owner's lock or thread).

#include <chrono>
#include <memory>
#include <string>

struct redisContext;
struct redisReply;

namespace parley {

struct RedisAddress {
  std::string host = "127.0.0.1";
  int port = 6379;
};

// redis://HOST[:PORT]; throws std::invalid_argument for anything else.
RedisAddress parse_redis_url(const std::string& url);

struct RedisContextDeleter {
  void operator()(redisContext* c) const;
};
using RedisConnection = std::unique_ptr<redisContext, RedisContextDeleter>;

struct RedisReplyDeleter {
  void operator()(redisReply* r) const;
};
using RedisReply = std::unique_ptr<redisReply, RedisReplyDeleter>;

// A blocking connection, or nullptr when Redis cannot be reached within `timeout`.
RedisConnection connect_redis(const RedisAddress& address,
                              std::chrono::milliseconds timeout = std::chrono::seconds(1));

}  // namespace parley
