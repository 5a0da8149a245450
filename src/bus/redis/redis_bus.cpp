#include "bus/redis/redis_bus.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>

#include "core/logging.hpp"
#include "core/threads.hpp"

namespace parley {

namespace json = boost::json;
using namespace chat;

namespace {

constexpr const char* kClusterChannel = "parley:cluster";
constexpr std::chrono::milliseconds kRetry{200};
constexpr std::size_t kMaxOutbox = 100000;  // events held while Redis is slow; beyond: dropped

std::string user_channel(UserId user) { return "parley:user:" + std::to_string(user); }
constexpr std::string_view kGroupChannelPrefix = "parley:group:";
std::string group_channel(const ConvId& group) {
  return std::string(kGroupChannelPrefix) + group;
}
std::string node_channel(const std::string& node) { return "parley:node:" + node; }

// The wire form of one relayed event: "o" the node that published it, "c" the conversation,
// "f" the client frame, "p" [seq, rev, updated 0|1] for a message or message_updated event (its
// position, typed, so that no receiving node parses "f"); on a group's channel "r" its recipients; on a user's channel "u" the
// user (0 on the cluster channel), "s" a revoked login session, "m" membership changed, "g"
// whether the user is in the group after a membership change.
// A relayed frame sealed by the publishing node (RedisBusOptions::relay_keys): this byte, then a
// Keyring sealed value. A rendered frame is JSON, so it never starts with it.
constexpr std::string_view kSealedFrame = "\x01";
std::string relay_context(const ConvId& conv) { return "parley relay|" + conv; }

struct Wire {
  const std::string& node;
  const ConvId& conv;
  const std::string& frame;
  std::optional<MessagePosition> position;
};
void add_position(json::object& o, const Wire& w) {
  if (w.position) o["p"] = json::array{w.position->seq, w.position->rev, w.position->updated ? 1 : 0};
}
std::string encode_for_group(const Wire& w, const std::vector<UserId>& recipients) {
  json::array r(recipients.begin(), recipients.end());
  json::object o{{"o", w.node}, {"c", w.conv}, {"r", std::move(r)}, {"f", w.frame}};
  add_position(o, w);
  return json::serialize(o);
}
std::string encode_for_user(const Wire& w, UserId user, SessionId revoked, bool membership,
                            std::optional<bool> in_group) {
  json::object o{{"o", w.node}, {"c", w.conv}, {"u", user}, {"f", w.frame}};
  add_position(o, w);
  if (revoked) o["s"] = revoked;
  if (membership) o["m"] = true;
  if (in_group) o["g"] = *in_group;
  return json::serialize(o);
}

// After a membership change, whether `user` is in the group: all its recipients are members,
// but the one removed.
bool in_group_after(const ConversationEvent& change, UserId user) {
  return !(change.change == "removed" && user == change.user_id);
}

// Waits up to `timeout` or until woken (eventfd), and consumes the wake-up.
void pause(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) > 0) {
    std::uint64_t ignored;
    [[maybe_unused]] auto n = ::read(fd, &ignored, sizeof ignored);
  }
}

void run(std::vector<std::function<void()>>& callbacks) {
  for (auto& callback : callbacks) callback();
  callbacks.clear();
}

}  // namespace

RedisBus::RedisBus(RedisBusOptions options)
    : options_(std::move(options)), node_channel_(node_channel(options_.node_id)) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error("eventfd failed");
  publisher_ = named_thread("bus-publisher", [this] { publisher_loop(); });
  subscriber_ = named_thread("bus-subscriber", [this] { subscriber_loop(); });
  loader_ = named_thread("bus-loader", [this] { loader_loop(); });
}

RedisBus::~RedisBus() {
  stop();
  ::close(wake_fd_);
}

void RedisBus::stop() {
  // Set under each condition's mutex, so that no waiter misses it between test and wait.
  {
    std::scoped_lock lock(publish_mutex_, watch_mutex_);
    stopping_ = true;
  }
  publish_wanted_.notify_one();
  load_wanted_.notify_one();
  wake_subscriber();
  for (auto* t : {&publisher_, &subscriber_, &loader_}) {
    if (t->joinable()) t->join();
  }
}

void RedisBus::wake_subscriber() {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void RedisBus::deliver(const EnvelopePtr& envelope) {
  if (sink_) sink_(envelope);
}

// ---- publishing

void RedisBus::publish(EnvelopePtr envelope) {
  // This node's sessions first, directly: they do not wait for Redis, nor miss events when it
  // is down. A membership change first moves this node's interest in the group.
  const auto* change = std::get_if<ConversationEvent>(&envelope->event);
  if (change) {
    std::vector<std::pair<UserId, bool>> members;
    for (const UserId user : envelope->recipients) {
      members.emplace_back(user, in_group_after(*change, user));
    }
    apply_membership(envelope, change->conv, members);
  } else {
    deliver(envelope);
  }

  const auto* revoked = std::get_if<SessionRevokedEvent>(&envelope->event);
  const SessionId revoked_id = revoked ? revoked->session_id : 0;
  const std::string no_frame;
  std::vector<std::pair<std::string, std::string>> out;
  if (revoked_id || change) {
    out.emplace_back(kClusterChannel,
                     encode_for_user({options_.node_id, envelope->conv, no_frame, std::nullopt}, 0, revoked_id,
                                     change != nullptr, std::nullopt));
  }
  if (!envelope->recipients.empty()) {
    std::string frame = options_.render(envelope->event);
    if (options_.relay_keys) {
      frame = std::string(kSealedFrame) +
              options_.relay_keys->seal(frame, relay_context(envelope->conv));
    }
    const Wire wire{options_.node_id, envelope->conv, frame, message_position(envelope->event)};
    if (envelope->group && !change) {
      out.emplace_back(group_channel(envelope->conv), encode_for_group(wire, envelope->recipients));
    } else {
      out.reserve(out.size() + envelope->recipients.size());
      for (const UserId user : envelope->recipients) {
        std::optional<bool> in_group;
        if (change) in_group = in_group_after(*change, user);
        out.emplace_back(user_channel(user),
                         encode_for_user(wire, user, revoked_id, change != nullptr, in_group));
      }
    }
  }
  enqueue(std::move(out));
}

void RedisBus::send_to_node(const std::string& node, std::string payload) {
  std::vector<std::pair<std::string, std::string>> out;
  out.emplace_back(node_channel(node), std::move(payload));
  enqueue(std::move(out));
}

void RedisBus::enqueue(std::vector<std::pair<std::string, std::string>> items) {
  if (items.empty()) return;
  {
    std::lock_guard lock(publish_mutex_);
    if (outbox_.size() + items.size() > kMaxOutbox) {
      log::warn("event=bus_outbox_full dropped={}", outbox_.size());
      outbox_.clear();  // live events only: the store has them, clients sync
    }
    for (auto& item : items) outbox_.push_back(std::move(item));
  }
  publish_wanted_.notify_one();
}

void RedisBus::publisher_loop() {
  RedisConnection ctx;
  std::deque<std::pair<std::string, std::string>> batch;
  for (;;) {
    {
      std::unique_lock lock(publish_mutex_);
      publish_wanted_.wait(lock, [this] { return stopping_ || !outbox_.empty(); });
      if (stopping_) return;
      batch.swap(outbox_);
    }
    if (!ctx) {
      ctx = connect_redis(options_.address);
      if (!ctx) {  // Redis is down: these events reach only this node (already delivered)
        batch.clear();
        std::unique_lock lock(publish_mutex_);
        publish_wanted_.wait_for(lock, kRetry, [this] { return stopping_.load(); });
        continue;
      }
    }
    // Pipelined: every PUBLISH written, then every reply read.
    for (const auto& [channel, payload] : batch) {
      redisAppendCommand(ctx.get(), "PUBLISH %b %b", channel.data(), channel.size(),
                         payload.data(), payload.size());
    }
    bool ok = true;
    for (std::size_t i = 0; i < batch.size() && ok; ++i) {
      void* reply = nullptr;
      ok = redisGetReply(ctx.get(), &reply) == REDIS_OK;
      if (reply) freeReplyObject(reply);
    }
    batch.clear();
    if (!ok) {
      log::warn("event=bus_publish_failed error=\"{}\"", ctx->errstr);
      ctx.reset();
    }
  }
}

// ---- interest

void RedisBus::subscribe_locked(const std::string& channel) {
  if (!subscribed_) return;  // sent with everything else at the next connect
  ++unconfirmed_[channel].subscribes;
  changes_.emplace_back(true, channel);
}

void RedisBus::unsubscribe_locked(const std::string& channel) {
  if (subscribed_) changes_.emplace_back(false, channel);
}

void RedisBus::after_confirmed_locked(const std::vector<std::string>& channels,
                                      std::function<void()> then, Callbacks& later) {
  std::vector<Unconfirmed*> pending;
  for (const auto& channel : channels) {
    if (auto it = unconfirmed_.find(channel); it != unconfirmed_.end()) {
      pending.push_back(&it->second);
    }
  }
  if (pending.empty()) {
    later.push_back(std::move(then));
    return;
  }
  // Every waiting callback runs on the subscriber thread (or in confirm_all there): a plain
  // count is enough.
  auto left = std::make_shared<std::size_t>(pending.size());
  auto shared_then = std::make_shared<std::function<void()>>(std::move(then));
  for (auto* p : pending) {
    p->then.push_back([left, shared_then] {
      if (--*left == 0) (*shared_then)();
    });
  }
}

void RedisBus::join_group_locked(Watched& user, const ConvId& group) {
  if (!user.groups.insert(group).second) return;
  if (++group_users_[group] == 1) subscribe_locked(group_channel(group));
}

void RedisBus::leave_group_locked(Watched& user, const ConvId& group) {
  if (user.groups.erase(group) == 0) return;
  auto it = group_users_.find(group);
  if (it == group_users_.end() || --it->second > 0) return;
  group_users_.erase(it);
  unsubscribe_locked(group_channel(group));
}

void RedisBus::apply_membership(const EnvelopePtr& envelope, const ConvId& group,
                                const std::vector<std::pair<UserId, bool>>& members) {
  Callbacks later;
  {
    std::lock_guard lock(watch_mutex_);
    for (const auto& [user, in_group] : members) {
      auto it = watched_.find(user);
      if (it == watched_.end()) continue;
      if (in_group) {
        join_group_locked(it->second, group);
      } else {
        leave_group_locked(it->second, group);
      }
    }
    // Later changes of the same group queue behind this one: the sink sees them in order.
    after_confirmed_locked({group_channel(group)}, [this, envelope] { deliver(envelope); }, later);
  }
  run(later);
  wake_subscriber();
}

void RedisBus::watch(UserId user, Ready ready) {
  Callbacks later;
  {
    std::lock_guard lock(watch_mutex_);
    auto& w = watched_[user];
    if (++w.sessions == 1) {
      w.epoch = ++next_epoch_;
      // The groups are read once the user's channel holds: a membership change committed
      // after the read is then sure to arrive on it.
      const auto channel = user_channel(user);
      subscribe_locked(channel);
      after_confirmed_locked({channel}, [this, user, epoch = w.epoch] { queue_load(user, epoch); },
                             later);
    }
    if (ready) {
      if (w.ready) {
        later.push_back(std::move(ready));
      } else {
        w.waiting.push_back(std::move(ready));
      }
    }
  }
  run(later);
  wake_subscriber();
}

void RedisBus::unwatch(UserId user) {
  std::vector<Ready> gone;
  {
    std::lock_guard lock(watch_mutex_);
    auto it = watched_.find(user);
    if (it == watched_.end() || --it->second.sessions > 0) return;
    auto& w = it->second;
    unsubscribe_locked(user_channel(user));
    for (const auto& group : std::vector<ConvId>(w.groups.begin(), w.groups.end())) {
      leave_group_locked(w, group);
    }
    gone.swap(w.waiting);  // whoever still waits has closed
    watched_.erase(it);
  }
  for (auto& r : gone) r();
  wake_subscriber();
}

void RedisBus::queue_load(UserId user, std::uint64_t epoch) {
  {
    std::lock_guard lock(watch_mutex_);
    to_load_.emplace_back(user, epoch);
  }
  load_wanted_.notify_one();
}

void RedisBus::mark_ready(UserId user, std::uint64_t epoch) {
  std::vector<Ready> ready;
  {
    std::lock_guard lock(watch_mutex_);
    auto it = watched_.find(user);
    if (it == watched_.end() || it->second.epoch != epoch) return;
    it->second.ready = true;
    ready.swap(it->second.waiting);
  }
  for (auto& r : ready) r();
}

void RedisBus::loader_loop() {
  for (;;) {
    std::pair<UserId, std::uint64_t> next;
    {
      std::unique_lock lock(watch_mutex_);
      load_wanted_.wait(lock, [this] { return stopping_ || !to_load_.empty(); });
      if (stopping_) return;
      next = to_load_.front();
      to_load_.pop_front();
      auto it = watched_.find(next.first);
      if (it == watched_.end() || it->second.epoch != next.second) continue;  // gone since
    }
    load_groups(next.first, next.second);
  }
}

void RedisBus::load_groups(UserId user, std::uint64_t epoch) {
  auto groups = options_.groups_of ? options_.groups_of(user)
                                   : Result<std::vector<ConvId>>(std::vector<ConvId>{});
  Callbacks later;
  {
    std::unique_lock lock(watch_mutex_);
    auto it = watched_.find(user);
    if (it == watched_.end() || it->second.epoch != epoch) return;
    if (!groups) {
      // The store is away: its sessions wait (they could not read anything either), and so do
      // the loads behind this one, rather than spin.
      log::warn("event=bus_groups_unavailable user={} error=\"{}\"", user, groups.error().message);
      to_load_.emplace_front(user, epoch);
      load_wanted_.wait_for(lock, kRetry, [this] { return stopping_.load(); });
      return;
    }
    auto& w = it->second;
    for (const auto& group : *groups) join_group_locked(w, group);
    std::vector<std::string> channels;
    channels.reserve(w.groups.size());
    for (const auto& group : w.groups) channels.push_back(group_channel(group));
    after_confirmed_locked(channels, [this, user, epoch] { mark_ready(user, epoch); }, later);
  }
  run(later);
  wake_subscriber();
}

void RedisBus::confirm(const std::string& channel) {
  Callbacks then;
  {
    std::lock_guard lock(watch_mutex_);
    auto it = unconfirmed_.find(channel);
    if (it == unconfirmed_.end() || --it->second.subscribes > 0) return;
    then = std::move(it->second.then);
    unconfirmed_.erase(it);
  }
  run(then);
}

void RedisBus::confirm_all() {
  Callbacks then;
  {
    std::lock_guard lock(watch_mutex_);
    for (auto& [_, waiting] : unconfirmed_) {
      for (auto& t : waiting.then) then.push_back(std::move(t));
    }
    unconfirmed_.clear();
  }
  run(then);
}

// ---- subscribing

void RedisBus::subscriber_loop() {
  bool connected_before = false;
  for (;;) {
    if (stopping_) return;
    RedisConnection ctx = connect_redis(options_.address);
    if (!ctx) {
      pause(wake_fd_, kRetry);
      continue;
    }
    // Everything of interest now, in one go; later changes arrive through changes_.
    std::vector<std::string> channels{kClusterChannel, node_channel_};
    bool sessions_waited = false;  // sessions came before this connection: they may have missed events
    {
      std::lock_guard lock(watch_mutex_);
      sessions_waited = connected_before || !watched_.empty();
      for (const auto& [user, _] : watched_) channels.push_back(user_channel(user));
      for (const auto& [group, _] : group_users_) channels.push_back(group_channel(group));
      for (std::size_t i = 2; i < channels.size(); ++i) {
        ++unconfirmed_[channels[i]].subscribes;  // what a watch() meanwhile waits for
      }
      changes_.clear();
      subscribed_ = true;
    }
    auto send = [&](const char* command, const std::vector<std::string>& names) {
      std::vector<const char*> argv{command};
      std::vector<std::size_t> lens{std::strlen(command)};
      for (const auto& n : names) {
        argv.push_back(n.data());
        lens.push_back(n.size());
      }
      redisAppendCommandArgv(ctx.get(), static_cast<int>(argv.size()), argv.data(), lens.data());
      int done = 0;
      while (!done) {
        if (redisBufferWrite(ctx.get(), &done) != REDIS_OK) return false;
      }
      return true;
    };
    bool alive = send("SUBSCRIBE", channels);
    log::info("event=bus_connected host={} port={} channels={}", options_.address.host,
              options_.address.port, channels.size());
    if (alive && sessions_waited && options_.on_reconnect) options_.on_reconnect();
    connected_before = true;

    while (alive) {
      pollfd fds[2] = {{ctx->fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      ::poll(fds, 2, -1);
      if (fds[1].revents & POLLIN) {
        std::uint64_t ignored;
        [[maybe_unused]] auto n = ::read(wake_fd_, &ignored, sizeof ignored);
        if (stopping_) return;
        std::vector<std::pair<bool, std::string>> changes;
        {
          std::lock_guard lock(watch_mutex_);
          changes.swap(changes_);
        }
        for (const auto& [subscribe, channel] : changes) {
          alive = alive && send(subscribe ? "SUBSCRIBE" : "UNSUBSCRIBE", {channel});
        }
      }
      if (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) {
        if (redisBufferRead(ctx.get()) != REDIS_OK) break;
        void* raw = nullptr;
        while (redisGetReplyFromReader(ctx.get(), &raw) == REDIS_OK && raw) {
          auto* reply = static_cast<redisReply*>(raw);
          // ["message", channel, payload] or ["subscribe", channel, count].
          if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
              reply->element[0]->type == REDIS_REPLY_STRING &&
              reply->element[1]->type == REDIS_REPLY_STRING) {
            const std::string_view kind(reply->element[0]->str, reply->element[0]->len);
            std::string channel(reply->element[1]->str, reply->element[1]->len);
            if (kind == "message" && reply->element[2]->type == REDIS_REPLY_STRING) {
              receive(channel, std::string(reply->element[2]->str, reply->element[2]->len));
            } else if (kind == "subscribe") {
              confirm(channel);
            }
          }
          freeReplyObject(reply);
          raw = nullptr;
        }
      }
    }
    {
      std::lock_guard lock(watch_mutex_);
      subscribed_ = false;
    }
    confirm_all();  // no answer will come: sessions resync once Redis is back
    log::warn("event=bus_disconnected error=\"{}\"", ctx->errstr);
  }
}

void RedisBus::receive(const std::string& channel, const std::string& payload) {
  if (channel == node_channel_) {
    if (note_sink_) note_sink_(payload);
    return;
  }
  boost::system::error_code ec;
  const auto v = json::parse(payload, ec);
  if (ec || !v.is_object()) {
    log::warn("event=bus_bad_message channel={}", channel);
    return;
  }
  const auto& o = v.get_object();
  const auto* origin = o.if_contains("o");
  if (!origin || !origin->is_string() || origin->get_string() == options_.node_id) return;
  auto env = std::make_shared<Envelope>();
  RelayedEvent relayed;
  if (const auto* c = o.if_contains("c"); c && c->is_string()) env->conv = std::string(c->get_string());
  if (const auto* f = o.if_contains("f"); f && f->is_string()) {
    const std::string_view frame = f->get_string();
    if (frame.starts_with(kSealedFrame)) {
      auto opened = options_.relay_keys
                        ? options_.relay_keys->open(frame.substr(kSealedFrame.size()),
                                                    relay_context(env->conv))
                        : Result<std::string>(make_error(Errc::bad_ciphertext, "no keys"));
      if (!opened) {
        log::error("event=bus_unreadable channel={} error=\"{}\"", channel, opened.error().message);
        return;
      }
      relayed.json = std::move(*opened);
    } else {
      relayed.json = std::string(frame);
    }
  }
  if (const auto* s = o.if_contains("s"); s && s->is_int64()) relayed.revoked_session = s->get_int64();
  if (const auto* m = o.if_contains("m"); m && m->is_bool()) relayed.membership_changed = m->get_bool();
  if (const auto* p = o.if_contains("p"); p && p->is_array() && p->get_array().size() == 3 &&
                                          !env->conv.empty()) {
    const auto& a = p->get_array();
    if (a[0].is_int64() && a[1].is_int64() && a[2].is_int64()) {
      relayed.position = MessagePosition{env->conv, a[0].get_int64(), a[1].get_int64(),
                                         a[2].get_int64() != 0};
    }
  }
  if (const auto* u = o.if_contains("u"); u && u->is_int64() && u->get_int64() != 0) {
    env->recipients.push_back(u->get_int64());
  }
  if (const auto* r = o.if_contains("r"); r && r->is_array()) {
    env->group = true;
    for (const auto& user : r->get_array()) {
      if (user.is_int64()) env->recipients.push_back(user.get_int64());
    }
  }
  env->event = std::move(relayed);
  const auto* in_group = o.if_contains("g");
  if (in_group && in_group->is_bool() && env->recipients.size() == 1 && !env->conv.empty()) {
    apply_membership(env, env->conv, {{env->recipients[0], in_group->get_bool()}});
    return;
  }
  deliver(env);
}

}  // namespace parley
