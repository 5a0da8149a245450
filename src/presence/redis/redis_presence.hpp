#pragma once
// RedisPresence: the cluster Presence, in Redis (docs/operations.md, "Redis bus"), through hiredis.
//
// Keys, one pair per user (the braces keep both in one Redis Cluster slot):
//   parley:presence:{<id>}   hash: node id → when that node's entry expires (Redis time, ms).
//                            A node writes its field when the user arrives and at every
//                            heartbeat, deletes it when the user leaves. An entry past its time
//                            counts as gone (its node stopped or died); the whole key expires
//                            `ttl` after the last write.
//   parley:last_seen:{<id>}  the latest last-seen time any node reported (ms), kept for
//                            `last_seen_ttl`: long enough for the store's batched write
//                            (ChatService::flush_last_seen) to have it.
// and per node, so that the users of a node that dies are announced offline:
//   parley:nodes             hash: node id → when it counts as dead (Redis time, ms), written
//                            at every heartbeat. The heartbeat of another node that finds an
//                            entry past its time deletes it, in the same script, so exactly
//                            one node takes the dead one over.
//   parley:node_users:{<node>}  set: the users with an entry of that node. The node that takes
//                            it over removes the dead node's entry of each; those left with no
//                            live entry are returned by heartbeat() to be announced offline.
// Each change is one Lua script, atomic in Redis: of two nodes losing the user at once exactly
// one sees the other gone and announces offline. Times come from Redis's clock, not the nodes'.
// The scripts are loaded once per connection (SCRIPT LOAD) and called by their SHA1.
//
// When Redis is unreachable every answer is "nobody else": each node announces its own changes
// (at worst an extra online or offline event) and presence queries see this node only.
// Thread-safety: every method from any thread (one connection, behind a mutex).

#include <array>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "presence/presence.hpp"
#include "redis/redis_client.hpp"

namespace parley {

struct RedisPresenceOptions {
  RedisAddress address;
  std::string node_id;                     // this node's field in every hash
  std::chrono::milliseconds ttl{30'000};   // an entry not refreshed for this long is gone
  std::chrono::seconds last_seen_ttl{std::chrono::hours(24)};
};

class RedisPresence final : public Presence {
 public:
  explicit RedisPresence(RedisPresenceOptions options);
  ~RedisPresence() override;
  RedisPresence(const RedisPresence&) = delete;
  RedisPresence& operator=(const RedisPresence&) = delete;

  bool arrived(chat::UserId user) override;
  bool left(chat::UserId user, TimeMs last_seen) override;
  PresenceElsewhere elsewhere(chat::UserId user) override;
  std::vector<Abandoned> heartbeat(const std::vector<chat::UserId>& here) override;

 private:
  struct Call;  // one EVALSHA: a script, its keys and arguments (redis_presence.cpp)
  // Sends every call in one write and reads their replies, in order; connects (and loads the
  // scripts) first if needed. Empty when Redis cannot be reached. Called with mutex_ held.
  std::vector<RedisReply> run(const std::vector<Call>& calls);
  // The heartbeat found `node` dead (last heard of at `last_seen`) and took it over: removes its
  // entries, and adds the users who have no other node to `abandoned`. mutex_ held.
  void take_over(const std::string& node, TimeMs last_seen, std::vector<Abandoned>& abandoned);

  const RedisPresenceOptions options_;
  std::mutex mutex_;
  RedisConnection connection_;  // connected on first use, again after an error
  std::array<std::string, 4> script_shas_;  // of the scripts loaded on connection_
  bool reported_down_ = false;  // the outage was logged once
};

}  // namespace parley
