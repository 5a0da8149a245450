#include "bus/redis/redis_bus.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <charconv>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "core/logging.hpp"

namespace parley {

namespace json = boost::json;
using namespace chat;

namespace {

constexpr const char* kClusterChannel = "parley:cluster";
constexpr std::chrono::milliseconds kRetry{200};
constexpr std::size_t kMaxOutbox = 100000;  // events held while Redis is slow; beyond: dropped

constexpr std::string_view kUserChannelPrefix = "parley:user:";
std::string user_channel(UserId user) {
  return std::string(kUserChannelPrefix) + std::to_string(user);
}
UserId parse_user(std::string_view digits) {
  UserId user = 0;
  std::from_chars(digits.data(), digits.data() + digits.size(), user);
  return user;
}
std::string node_channel(const std::string& node) { return "parley:node:" + node; }

// The wire form of one relayed event (one recipient, or a cluster-wide notice with user 0).
std::string encode(const std::string& node, const ConvId& conv, UserId user,
                   const std::string& frame, SessionId revoked, bool membership_changed) {
  json::object o{{"o", node}, {"c", conv}, {"u", user}, {"f", frame}};
  if (revoked) o["s"] = revoked;
  if (membership_changed) o["m"] = true;
  return json::serialize(o);
}

// Waits up to `timeout` or until woken (eventfd), and consumes the wake-up.
void pause(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) > 0) {
    std::uint64_t ignored;
    [[maybe_unused]] auto n = ::read(fd, &ignored, sizeof ignored);
  }
}

}  // namespace

RedisBus::RedisBus(RedisBusOptions options)
    : options_(std::move(options)), node_channel_(node_channel(options_.node_id)) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error("eventfd failed");
  publisher_ = std::thread([this] { publisher_loop(); });
  subscriber_ = std::thread([this] { subscriber_loop(); });
}

RedisBus::~RedisBus() {
  stop();
  ::close(wake_fd_);
}

void RedisBus::stop() {
  {
    std::lock_guard lock(publish_mutex_);
    stopping_ = true;
  }
  publish_wanted_.notify_one();
  wake_subscriber();
  if (publisher_.joinable()) publisher_.join();
  if (subscriber_.joinable()) subscriber_.join();
}

void RedisBus::wake_subscriber() {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

// ---- publishing

void RedisBus::publish(EnvelopePtr envelope) {
  // This node's sessions first, directly: they do not wait for Redis, nor miss events when it
  // is down.
  if (sink_) sink_(envelope);

  const auto* revoked = std::get_if<SessionRevokedEvent>(&envelope->event);
  const SessionId revoked_id = revoked ? revoked->session_id : 0;
  const bool membership = std::holds_alternative<ConversationEvent>(envelope->event);
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(envelope->recipients.size() + 1);
  if (revoked_id || membership) {
    out.emplace_back(kClusterChannel,
                     encode(options_.node_id, envelope->conv, 0, "", revoked_id, membership));
  }
  if (!envelope->recipients.empty()) {
    const std::string frame = options_.render(envelope->event);
    for (const UserId user : envelope->recipients) {
      out.emplace_back(user_channel(user), encode(options_.node_id, envelope->conv, user, frame,
                                                  revoked_id, membership));
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
        publish_wanted_.wait_for(lock, kRetry, [this] { return stopping_; });
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

// ---- subscribing

void RedisBus::watch(UserId user, Ready ready) {
  bool subscribe = false;
  {
    std::lock_guard lock(watch_mutex_);
    subscribe = ++watched_[user] == 1;
    if (subscribed_ && subscribe) {
      changes_.emplace_back(true, user);
      ++unconfirmed_[user].subscribes;
    }
    if (auto it = unconfirmed_.find(user); it != unconfirmed_.end() && ready) {
      it->second.ready.push_back(std::move(ready));  // runs when Redis answers the SUBSCRIBE
      ready = nullptr;
    }
  }
  // Otherwise subscribed already, or Redis is away (sessions resync once it is back).
  if (ready) ready();
  if (subscribe) wake_subscriber();
}

void RedisBus::unwatch(UserId user) {
  std::vector<Ready> gone;
  {
    std::lock_guard lock(watch_mutex_);
    auto it = watched_.find(user);
    if (it == watched_.end() || --it->second > 0) return;
    watched_.erase(it);
    if (subscribed_) changes_.emplace_back(false, user);
    // Whoever still waits has closed; the SUBSCRIBEs in flight are still counted.
    if (auto w = unconfirmed_.find(user); w != unconfirmed_.end()) gone.swap(w->second.ready);
  }
  for (auto& r : gone) r();
  wake_subscriber();
}

void RedisBus::confirm(UserId user) {
  std::vector<Ready> ready;
  {
    std::lock_guard lock(watch_mutex_);
    auto it = unconfirmed_.find(user);
    if (it == unconfirmed_.end() || --it->second.subscribes > 0) return;
    ready = std::move(it->second.ready);
    unconfirmed_.erase(it);
  }
  for (auto& r : ready) r();
}

void RedisBus::confirm_all() {
  std::vector<Ready> ready;
  {
    std::lock_guard lock(watch_mutex_);
    for (auto& [_, waiting] : unconfirmed_) {
      for (auto& r : waiting.ready) ready.push_back(std::move(r));
    }
    unconfirmed_.clear();
  }
  for (auto& r : ready) r();
}

void RedisBus::subscriber_loop() {
  bool connected_before = false;
  for (;;) {
    {
      std::lock_guard lock(publish_mutex_);
      if (stopping_) return;
    }
    RedisConnection ctx = connect_redis(options_.address);
    if (!ctx) {
      pause(wake_fd_, kRetry);
      continue;
    }
    // Everything watched now, in one go; later changes arrive through changes_.
    std::vector<std::string> channels{kClusterChannel, node_channel_};
    {
      std::lock_guard lock(watch_mutex_);
      for (const auto& [user, count] : watched_) {
        channels.push_back(user_channel(user));
        ++unconfirmed_[user].subscribes;  // what a watch() meanwhile waits for
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
    if (alive && connected_before && options_.on_reconnect) options_.on_reconnect();
    connected_before = true;

    while (alive) {
      pollfd fds[2] = {{ctx->fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      ::poll(fds, 2, -1);
      if (fds[1].revents & POLLIN) {
        std::uint64_t ignored;
        [[maybe_unused]] auto n = ::read(wake_fd_, &ignored, sizeof ignored);
        {
          std::lock_guard lock(publish_mutex_);
          if (stopping_) return;
        }
        std::vector<std::pair<bool, UserId>> changes;
        {
          std::lock_guard lock(watch_mutex_);
          changes.swap(changes_);
        }
        for (const auto& [subscribe, user] : changes) {
          alive = alive && send(subscribe ? "SUBSCRIBE" : "UNSUBSCRIBE", {user_channel(user)});
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
            const std::string_view channel(reply->element[1]->str, reply->element[1]->len);
            if (kind == "message" && reply->element[2]->type == REDIS_REPLY_STRING) {
              receive(std::string(channel),
                      std::string(reply->element[2]->str, reply->element[2]->len));
            } else if (kind == "subscribe" && channel.starts_with(kUserChannelPrefix)) {
              confirm(parse_user(channel.substr(kUserChannelPrefix.size())));
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
  if (const auto* f = o.if_contains("f"); f && f->is_string()) relayed.json = std::string(f->get_string());
  if (const auto* s = o.if_contains("s"); s && s->is_int64()) relayed.revoked_session = s->get_int64();
  if (const auto* m = o.if_contains("m"); m && m->is_bool()) relayed.membership_changed = m->get_bool();
  if (const auto* u = o.if_contains("u"); u && u->is_int64() && u->get_int64() != 0) {
    env->recipients.push_back(u->get_int64());
  }
  env->event = std::move(relayed);
  if (sink_) sink_(env);
}

}  // namespace parley
