#include "presence/redis/redis_presence.hpp"

#include <hiredis/hiredis.h>

#include <charconv>
#include <memory>
#include <string_view>

#include "core/logging.hpp"

namespace parley {

using chat::UserId;

namespace {

// Lua shared by the scripts: `now`, in ms by Redis's clock, and live_others(node, prune): how
// many entries of KEYS[1] belong to other nodes and are still valid (prune: delete the rest).
constexpr std::string_view kPrelude = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function live_others(node, prune)
  local n = 0
  local entries = redis.call('HGETALL', KEYS[1])
  for i = 1, #entries, 2 do
    if entries[i] ~= node then
      if tonumber(entries[i + 1]) > now then n = n + 1
      elseif prune then redis.call('HDEL', KEYS[1], entries[i]) end
    end
  end
  return n
end
)lua";

// KEYS: presence. ARGV: node, ttl ms. Writes this node's entry; returns the other live ones.
const std::string kHere = std::string(kPrelude) + R"lua(
local others = live_others(ARGV[1], true)
redis.call('HSET', KEYS[1], ARGV[1], now + tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return others
)lua";

// KEYS: presence, last_seen. ARGV: node, last seen ms, its ttl s. Deletes this node's entry,
// keeps the later last-seen time; returns the other live entries.
const std::string kGone = std::string(kPrelude) + R"lua(
redis.call('HDEL', KEYS[1], ARGV[1])
local others = live_others(ARGV[1], true)
if tonumber(ARGV[2]) > tonumber(redis.call('GET', KEYS[2]) or '0') then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
end
return others
)lua";

// KEYS: presence, last_seen. ARGV: node. Returns {other live entries, last seen or ''}.
const std::string kElsewhere = std::string(kPrelude) + R"lua(
return {live_others(ARGV[1], false), redis.call('GET', KEYS[2]) or ''}
)lua";

// A reply later than this counts as Redis down: presence changes must not stall for long.
constexpr timeval kCommandTimeout{1, 0};

std::string presence_key(UserId user) { return "parley:presence:{" + std::to_string(user) + "}"; }
std::string last_seen_key(UserId user) { return "parley:last_seen:{" + std::to_string(user) + "}"; }

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// EVAL script with keys and args, as one argv.
struct Eval {
  std::vector<std::string> parts;
  Eval(const std::string& script, std::vector<std::string> keys, std::vector<std::string> args) {
    parts = {"EVAL", script, std::to_string(keys.size())};
    for (auto& k : keys) parts.push_back(std::move(k));
    for (auto& a : args) parts.push_back(std::move(a));
  }
  void append_to(redisContext* c) const {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& p : parts) {
      argv.push_back(p.data());
      lens.push_back(p.size());
    }
    redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data());
  }
};

// The script's count of other nodes' live entries; -1 when the reply is not one.
long long others_in(const redisReply* r) {
  return r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
}

// Sends every command of `batch` in one write and reads their replies, in order. Empty when the
// connection failed (it is then dropped, to be made again by the next call).
std::vector<Reply> run(RedisConnection& connection, const RedisAddress& address,
                       bool& reported_down, const std::vector<Eval>& batch) {
  if (!connection) {
    connection = connect_redis(address);
    if (connection) redisSetTimeout(connection.get(), kCommandTimeout);
  }
  std::vector<Reply> replies;
  bool ok = connection != nullptr;
  if (ok) {
    for (const auto& e : batch) e.append_to(connection.get());
    for (std::size_t i = 0; i < batch.size() && ok; ++i) {
      void* raw = nullptr;
      ok = redisGetReply(connection.get(), &raw) == REDIS_OK;
      replies.emplace_back(static_cast<redisReply*>(raw));
      if (ok && replies.back()->type == REDIS_REPLY_ERROR) {
        log::warn("event=presence_script_failed error=\"{}\"", replies.back()->str);
      }
    }
  }
  if (!ok) {
    if (!reported_down) {
      log::warn("event=presence_unavailable host={} port={} error=\"{}\"", address.host,
                address.port, connection ? connection->errstr : "cannot connect");
      reported_down = true;
    }
    connection.reset();
    return {};
  }
  if (reported_down) log::info("event=presence_available host={} port={}", address.host, address.port);
  reported_down = false;
  return replies;
}

}  // namespace

RedisPresence::RedisPresence(RedisPresenceOptions options) : options_(std::move(options)) {}

RedisPresence::~RedisPresence() = default;

bool RedisPresence::arrived(UserId user) {
  std::lock_guard lock(mutex_);
  const auto replies = run(connection_, options_.address, reported_down_,
                           {Eval(kHere, {presence_key(user)},
                                 {options_.node_id, std::to_string(options_.ttl.count())})});
  return replies.empty() || others_in(replies[0].get()) <= 0;
}

bool RedisPresence::left(UserId user, TimeMs last_seen) {
  std::lock_guard lock(mutex_);
  const auto replies = run(connection_, options_.address, reported_down_,
                           {Eval(kGone, {presence_key(user), last_seen_key(user)},
                                 {options_.node_id, std::to_string(last_seen),
                                  std::to_string(options_.last_seen_ttl.count())})});
  return replies.empty() || others_in(replies[0].get()) <= 0;
}

PresenceElsewhere RedisPresence::elsewhere(UserId user) {
  std::lock_guard lock(mutex_);
  const auto replies = run(connection_, options_.address, reported_down_,
                           {Eval(kElsewhere, {presence_key(user), last_seen_key(user)},
                                 {options_.node_id})});
  PresenceElsewhere out;
  const redisReply* r = replies.empty() ? nullptr : replies[0].get();
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return out;
  out.online = others_in(r->element[0]) > 0;
  if (const auto* seen = r->element[1]; seen->type == REDIS_REPLY_STRING && seen->len > 0) {
    TimeMs at = 0;
    if (std::from_chars(seen->str, seen->str + seen->len, at).ec == std::errc()) out.last_seen = at;
  }
  return out;
}

void RedisPresence::heartbeat(const std::vector<UserId>& here) {
  if (here.empty()) return;
  std::vector<Eval> batch;
  batch.reserve(here.size());
  const std::string ttl = std::to_string(options_.ttl.count());
  for (const UserId user : here) batch.emplace_back(kHere, std::vector{presence_key(user)},
                                                    std::vector{options_.node_id, ttl});
  std::lock_guard lock(mutex_);
  run(connection_, options_.address, reported_down_, batch);
}

}  // namespace parley
