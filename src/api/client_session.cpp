#include "api/client_session.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include "core/logging.hpp"

namespace parley::api {

namespace asio = boost::asio;
using namespace chat;

// How long an operation that needs the subscription (sync) waits for the cluster bus to confirm.
constexpr std::chrono::seconds kSubscribeWait{2};

namespace {

// The login session a `session` event revokes (logged out here or on another node), else 0.
SessionId revoked_session(const Event& event) {
  if (const auto* here = std::get_if<SessionRevokedEvent>(&event)) return here->session_id;
  if (const auto* relayed = std::get_if<RelayedEvent>(&event)) return relayed->revoked_session;
  return 0;
}

}  // namespace

// ---- TypingLimiter

TypingLimiter::Verdict TypingLimiter::check(const std::string& conv, Clock::time_point now) const {
  const auto it = last_.find(conv);
  if (it == last_.end()) {
    return last_.size() >= kMaxConversations ? Verdict::too_many_conversations : Verdict::send;
  }
  return now - it->second < interval_ ? Verdict::throttled : Verdict::send;
}

void TypingLimiter::sent(const std::string& conv, Clock::time_point now) {
  last_[conv] = now;
  if (last_.size() >= kMaxConversations) {  // bounded: forget what no longer throttles
    std::erase_if(last_, [&](const auto& entry) { return now - entry.second >= interval_; });
  }
}

// ---- ClientSession

ClientSession::ClientSession(ApiContext& ctx, std::optional<Caller> caller)
    : ctx_(ctx), caller_(std::move(caller)), typing_(ctx.options.typing_interval) {}

void ClientSession::opened() {
  if (caller_) return attach();
  // Unauthenticated sessions hold a connection: give them auth_timeout to identify.
  auth_timer_ = std::make_unique<asio::steady_timer>(executor(), ctx_.options.auth_timeout);
  auth_timer_->async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->caller_ || self->closed_) return;
    self->end_unauthenticated("authentication timed out");
  });
}

std::optional<asio::awaitable<void>> ClientSession::request(std::string_view name, json::value id,
                                                            json::object& args) {
  if (name == "auth") {
    authenticate(id, args);
    return std::nullopt;
  }
  if (!caller_) {
    send_reply(id, make_error(Errc::unauthenticated, "authenticate first: {\"op\":\"auth\"}"));
    end_unauthenticated("not authenticated");
    return std::nullopt;
  }
  if (reauth_due_) {  // the token expired: nothing but a new one until the grace ends
    send_reply(id, make_error(Errc::unauthenticated,
                              "the access token expired: send {\"op\":\"auth\"} with a new one"));
    return std::nullopt;
  }
  const Operation* op = find_operation(name);
  if (!op || !op->on_sockets) {
    send_reply(id, make_error(Errc::unknown_op, "unknown op '" + std::string(name) + "'"));
    return std::nullopt;
  }
  if ((op->after_subscribed && !subscribed_) || op->throttle != Throttle::none) {
    return run_deferred(*op, std::move(id), json::object(args, json::storage_ptr()));
  }
  OpCall call{ctx_, &*caller_, args, this, &id};
  auto reply = op->run(call);
  if (auto* now = std::get_if<OpResult>(&reply)) {
    send_reply(id, std::move(*now));
    return std::nullopt;
  }
  if (auto* coroutine = std::get_if<asio::awaitable<OpResult>>(&reply)) {
    return [](std::shared_ptr<ClientSession> self, json::value request_id,
              asio::awaitable<OpResult> answer) -> asio::awaitable<void> {
      auto result = co_await std::move(answer);
      if (!self->closed_) self->send_reply(request_id, std::move(result));
    }(shared_from_this(), json::value(id, json::storage_ptr()), std::move(*coroutine));
  }
  return std::nullopt;  // Later: answered through answer_later
}

asio::awaitable<void> ClientSession::run_deferred(const Operation& op, json::value id,
                                                  json::object args) {
  auto self = shared_from_this();  // the session outlives this coroutine
  if (op.after_subscribed) co_await until_subscribed();
  if (op.throttle != Throttle::none) {
    // Socket ops are throttled per user (the encryption service); the address is unused.
    const std::string no_address;  // named: no temporary inside co_await (net/offload.hpp)
    auto refused = co_await admit(ctx_, op.throttle, args, no_address, &*caller_);
    if (refused) {
      if (!closed_) send_reply(id, refused->error);
      co_return;
    }
  }
  OpCall call{ctx_, &*caller_, args, this, &id};
  auto reply = op.run(call);
  OpResult result = make_error(Errc::internal, "operation answers later");
  if (auto* now = std::get_if<OpResult>(&reply)) {
    result = std::move(*now);
  } else if (auto* coroutine = std::get_if<asio::awaitable<OpResult>>(&reply)) {
    result = co_await std::move(*coroutine);
  } else {
    co_return;  // Later
  }
  if (!closed_) send_reply(id, std::move(result));
}

void ClientSession::closed() {
  closed_ = true;
  if (auth_timer_) auth_timer_->cancel();
  if (expiry_timer_) expiry_timer_->cancel();
  if (subscription_wait_) subscription_wait_->cancel();
  if (attached_) {
    attached_ = false;
    ctx_.hub.detach(shard(), caller_->user_id, this);
    if (ctx_.service.presence_closed(*caller_)) settle_presence_later();
  }
}

ClientSession::LaterAnswer ClientSession::answer_later(const json::value& id) {
  ++inflight_;
  return LaterAnswer(shared_from_this(), json::value(id, json::storage_ptr()));
}

void ClientSession::deliver(const EventPtr& event) {
  if (closed_) return;
  if (const SessionId revoked = revoked_session(event->envelope().event)) {
    // Only the sessions of the logged-out login session, not the user's other devices.
    if (revoked != caller_->session_id) return;
    send_event(event);
    end_unauthenticated("logged out");
    return;
  }
  send_event(event);
}

void ClientSession::authenticate(const json::value& id, const json::object& args) {
  auto token = req_string(args, "token");
  Result<Caller> caller = token ? ctx_.service.authenticate(*token) : Result<Caller>(token.error());
  if (caller_) {
    // A new token for the live session: it goes on until the new token expires.
    if (!caller) return send_reply(id, caller.error());  // the grace, if any, keeps running
    if (caller->user_id != caller_->user_id) {
      return send_reply(id, make_error(Errc::forbidden, "the token is another user's"));
    }
    caller_ = std::move(*caller);
    reauth_due_ = false;
    arm_expiry();
    json::object user{{"id", caller_->user_id}, {"username", caller_->username}};
    return send_reply(id, json::object{{"user", std::move(user)}});
  }
  if (!caller) {
    send_reply(id, caller.error());
    end_unauthenticated("authentication failed");
    return;
  }
  caller_ = std::move(*caller);
  if (auth_timer_) auth_timer_->cancel();
  attach(json::value(id, json::storage_ptr()));  // answers once the user's events reach this node
}

void ClientSession::arm_expiry() {
  if (caller_->expires_at <= 0) return;
  if (!expiry_timer_) expiry_timer_ = std::make_unique<asio::steady_timer>(executor());
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  wait_expiry(std::chrono::milliseconds(std::max<TimeMs>(0, caller_->expires_at - now)));
}

void ClientSession::wait_expiry(std::chrono::milliseconds after) {
  // A wait that already fired cannot be cancelled: its handler may still be queued when a new
  // token arrives. The generation tells it that it is stale.
  const auto generation = ++expiry_generation_;
  expiry_timer_->expires_after(after);
  expiry_timer_->async_wait([weak = weak_from_this(), generation](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->closed_ || generation != self->expiry_generation_) return;
    self->token_expired();
  });
}

void ClientSession::token_expired() {
  if (reauth_due_) {  // the grace is over too
    log::info("event=session_token_expired {} user={}", describe(), caller_->user_id);
    end_unauthenticated("token expired");
    return;
  }
  reauth_due_ = true;
  auto notice = std::make_shared<Envelope>();
  RelayedEvent expired;
  expired.json = json::serialize(json::object{
      {"ev", "session"},
      {"change", "expired"},
      {"grace_ms", ctx_.options.reauth_grace.count()}});
  notice->event = std::move(expired);
  send_event(std::make_shared<const RenderedEvent>(std::move(notice)));
  wait_expiry(ctx_.options.reauth_grace);
}

void ClientSession::attach(std::optional<json::value> auth_id) {
  ctx_.hub.attach(shard(), caller_->user_id, shared_from_this(),
                  [weak = weak_from_this(), executor = executor(), auth_id = std::move(auth_id)] {
                    asio::post(executor, [weak, auth_id] {
                      if (auto self = weak.lock()) self->subscribed(auth_id);
                    });
                  });
  attached_ = true;
  arm_expiry();
  log::info("event=session_open {} user={}", describe(), caller_->user_id);
  if (ctx_.service.presence_opened(*caller_)) {
    asio::post(ctx_.presence, [&ctx = ctx_, caller = *caller_] { ctx.service.arrive(caller); });
  }
}

void ClientSession::subscribed(const std::optional<json::value>& auth_id) {
  subscribed_ = true;
  if (subscription_wait_) subscription_wait_->cancel();
  if (auth_id && !closed_) {
    json::object user{{"id", caller_->user_id}, {"username", caller_->username}};
    send_reply(*auth_id, json::object{{"user", std::move(user)}});
  }
}

asio::awaitable<void> ClientSession::until_subscribed() {
  if (subscribed_ || closed_) co_return;
  if (!subscription_wait_) {
    subscription_wait_ = std::make_unique<asio::steady_timer>(executor(), kSubscribeWait);
  }
  boost::system::error_code ignored;
  co_await subscription_wait_->async_wait(asio::redirect_error(asio::use_awaitable, ignored));
}

void ClientSession::settle_presence_later() {
  auto timer = std::make_shared<asio::steady_timer>(executor(), ctx_.options.presence_grace);
  timer->async_wait([timer, &ctx = ctx_, caller = *caller_](boost::system::error_code ec) {
    if (ec) return;
    asio::post(ctx.presence, [&ctx, caller] { ctx.service.settle_presence(caller); });
  });
}

}  // namespace parley::api
