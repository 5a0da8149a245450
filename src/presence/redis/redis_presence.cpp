#include "presence/redis/redis_presence.hpp"

#include <hiredis/hiredis.h>

#include <array>
#include <charconv>
#include <memory>
#include <optional>
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

// kCommand is not a script: the call's args are a plain command.
enum Script { kHere, kGone, kElsewhere, kNodeAlive, kCommand };

const std::array<std::string, 4> kScripts = {
    // kHere. KEYS: presence. ARGV: node, ttl ms. Writes this node's entry; returns the other
    // live ones.
    std::string(kPrelude) + R"lua(
local others = live_others(ARGV[1], true)
redis.call('HSET', KEYS[1], ARGV[1], now + tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return others
)lua",
    // kGone. KEYS: presence, last_seen. ARGV: node, last seen ms, its ttl s. Deletes this
    // node's entry, keeps the later last-seen time; returns the other live entries.
    std::string(kPrelude) + R"lua(
redis.call('HDEL', KEYS[1], ARGV[1])
local others = live_others(ARGV[1], true)
if tonumber(ARGV[2]) > tonumber(redis.call('GET', KEYS[2]) or '0') then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
end
return others
)lua",
    // kElsewhere. KEYS: presence, last_seen. ARGV: node. Returns {other live entries, last
    // seen or ''}.
    std::string(kPrelude) + R"lua(
return {live_others(ARGV[1], false), redis.call('GET', KEYS[2]) or ''}
)lua",
    // kNodeAlive. KEYS: nodes. ARGV: node, ttl ms. Writes this node's time; deletes the
    // entries of the other nodes past theirs and returns them: {node, time, node, time, …}.
    std::string(kPrelude) + R"lua(
local dead = {}
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  if entries[i] ~= ARGV[1] and tonumber(entries[i + 1]) <= now then
    redis.call('HDEL', KEYS[1], entries[i])
    table.insert(dead, entries[i])
    table.insert(dead, entries[i + 1])
  end
end
redis.call('HSET', KEYS[1], ARGV[1], now + tonumber(ARGV[2]))
return dead
)lua",
};

constexpr const char* kNodesKey = "parley:nodes";

// A reply later than this counts as Redis down: presence changes must not stall for long.
constexpr timeval kCommandTimeout{1, 0};

std::string presence_key(UserId user) { return "parley:presence:{" + std::to_string(user) + "}"; }
std::string last_seen_key(UserId user) { return "parley:last_seen:{" + std::to_string(user) + "}"; }
std::string node_users_key(const std::string& node) { return "parley:node_users:{" + node + "}"; }

std::string_view text_of(const redisReply* r) {
  return r && r->type == REDIS_REPLY_STRING ? std::string_view(r->str, r->len) : std::string_view();
}
template <class Int>
std::optional<Int> int_of(std::string_view digits) {
  Int value{};
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty()) return std::nullopt;
  return value;
}

void append_command(redisContext* c, const std::vector<std::string_view>& argv) {
  std::vector<const char*> args;
  std::vector<std::size_t> lens;
  for (const auto a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  redisAppendCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data());
}

// The script's count of other nodes' live entries; -1 when the reply is not one.
long long others_in(const redisReply* r) {
  return r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
}

}  // namespace

struct RedisPresence::Call {
  Script script;
  std::vector<std::string> keys;
  std::vector<std::string> args;  // the script's ARGV; for kCommand, the whole command
};

RedisPresence::RedisPresence(RedisPresenceOptions options) : options_(std::move(options)) {}

RedisPresence::~RedisPresence() = default;

std::vector<RedisReply> RedisPresence::run(const std::vector<Call>& calls) {
  auto read_reply = [this](RedisReply& into) {
    void* raw = nullptr;
    const bool ok = redisGetReply(connection_.get(), &raw) == REDIS_OK;
    into.reset(static_cast<redisReply*>(raw));
    return ok;
  };
  bool ok = true;
  if (!connection_) {
    connection_ = connect_redis(options_.address);
    ok = connection_ != nullptr;
    if (ok) {
      redisSetTimeout(connection_.get(), kCommandTimeout);
      for (const auto& script : kScripts) {
        append_command(connection_.get(), {"SCRIPT", "LOAD", script});
      }
      for (auto& sha : script_shas_) {
        RedisReply loaded;
        ok = ok && read_reply(loaded) && loaded->type == REDIS_REPLY_STRING;
        if (ok) sha.assign(loaded->str, loaded->len);
      }
    }
  }
  std::vector<RedisReply> replies(ok ? calls.size() : 0);
  if (ok) {
    for (const Call& call : calls) {
      if (call.script == kCommand) {
        append_command(connection_.get(),
                       std::vector<std::string_view>(call.args.begin(), call.args.end()));
        continue;
      }
      std::vector<std::string_view> argv{"EVALSHA", script_shas_[call.script]};
      const std::string key_count = std::to_string(call.keys.size());
      argv.emplace_back(key_count);
      argv.insert(argv.end(), call.keys.begin(), call.keys.end());
      argv.insert(argv.end(), call.args.begin(), call.args.end());
      append_command(connection_.get(), argv);
    }
    bool scripts_gone = false;  // SCRIPT FLUSH: load them again on a new connection
    for (std::size_t i = 0; i < calls.size() && ok; ++i) {
      ok = read_reply(replies[i]);
      if (ok && replies[i]->type == REDIS_REPLY_ERROR) {
        log::warn("event=presence_script_failed error=\"{}\"", replies[i]->str);
        scripts_gone |= std::string_view(replies[i]->str).starts_with("NOSCRIPT");
      }
    }
    if (ok && scripts_gone) connection_.reset();
  }
  if (!ok) {
    if (!reported_down_) {
      log::warn("event=presence_unavailable host={} port={} error=\"{}\"", options_.address.host,
                options_.address.port, connection_ ? connection_->errstr : "cannot connect");
      reported_down_ = true;
    }
    connection_.reset();
    return {};
  }
  if (reported_down_) {
    log::info("event=presence_available host={} port={}", options_.address.host,
              options_.address.port);
  }
  reported_down_ = false;
  return replies;
}

bool RedisPresence::arrived(UserId user) {
  std::lock_guard lock(mutex_);
  const auto replies = run(
      {{kHere, {presence_key(user)}, {options_.node_id, std::to_string(options_.ttl.count())}},
       {kCommand, {}, {"SADD", node_users_key(options_.node_id), std::to_string(user)}}});
  return replies.empty() || others_in(replies[0].get()) <= 0;
}

bool RedisPresence::left(UserId user, TimeMs last_seen) {
  std::lock_guard lock(mutex_);
  const auto replies = run({{kGone,
                             {presence_key(user), last_seen_key(user)},
                             {options_.node_id, std::to_string(last_seen),
                              std::to_string(options_.last_seen_ttl.count())}},
                            {kCommand, {}, {"SREM", node_users_key(options_.node_id),
                                            std::to_string(user)}}});
  return replies.empty() || others_in(replies[0].get()) <= 0;
}

PresenceElsewhere RedisPresence::elsewhere(UserId user) {
  std::lock_guard lock(mutex_);
  const auto replies =
      run({{kElsewhere, {presence_key(user), last_seen_key(user)}, {options_.node_id}}});
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

std::vector<Abandoned> RedisPresence::heartbeat(const std::vector<UserId>& here) {
  const std::string ttl = std::to_string(options_.ttl.count());
  const std::string my_users = node_users_key(options_.node_id);
  std::vector<Call> calls;
  calls.reserve(here.size() + 3);
  std::vector<std::string> add{"SADD", my_users};  // again: Redis may have lost them
  for (const UserId user : here) {
    calls.push_back({kHere, {presence_key(user)}, {options_.node_id, ttl}});
    add.push_back(std::to_string(user));
  }
  if (!here.empty()) calls.push_back({kCommand, {}, std::move(add)});
  // Outlives the time it takes another node to find this one dead (ttl + a heartbeat).
  calls.push_back({kCommand, {}, {"PEXPIRE", my_users, std::to_string(3 * options_.ttl.count())}});
  calls.push_back({kNodeAlive, {kNodesKey}, {options_.node_id, ttl}});

  std::lock_guard lock(mutex_);
  const auto replies = run(calls);
  std::vector<Abandoned> abandoned;
  const redisReply* dead = replies.empty() ? nullptr : replies.back().get();
  if (!dead || dead->type != REDIS_REPLY_ARRAY) return abandoned;
  for (std::size_t i = 0; i + 1 < dead->elements; i += 2) {
    const auto expired_at = int_of<TimeMs>(text_of(dead->element[i + 1]));
    if (!expired_at) continue;
    take_over(std::string(text_of(dead->element[i])), *expired_at - options_.ttl.count(),
              abandoned);
  }
  return abandoned;
}

void RedisPresence::take_over(const std::string& node, TimeMs last_seen,
                              std::vector<Abandoned>& abandoned) {
  const auto members = run({{kCommand, {}, {"SMEMBERS", node_users_key(node)}}});
  const redisReply* set = members.empty() ? nullptr : members[0].get();
  if (!set || set->type != REDIS_REPLY_ARRAY) return;
  std::vector<UserId> users;
  std::vector<Call> calls;
  const std::string seen = std::to_string(last_seen);
  const std::string seen_ttl = std::to_string(options_.last_seen_ttl.count());
  for (std::size_t i = 0; i < set->elements; ++i) {
    const auto user = int_of<UserId>(text_of(set->element[i]));
    if (!user) continue;
    users.push_back(*user);
    calls.push_back({kGone, {presence_key(*user), last_seen_key(*user)}, {node, seen, seen_ttl}});
  }
  calls.push_back({kCommand, {}, {"DEL", node_users_key(node)}});
  const auto replies = run(calls);
  if (replies.size() != calls.size()) return;  // Redis went away: the entries expire anyway
  std::size_t offline = 0;
  for (std::size_t i = 0; i < users.size(); ++i) {
    if (others_in(replies[i].get()) != 0) continue;  // online on another node still
    abandoned.push_back({users[i], last_seen});
    ++offline;
  }
  log::info("event=presence_node_died node={} users={} offline={}", node, users.size(), offline);
}

}  // namespace parley
