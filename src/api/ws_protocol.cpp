#include "api/ws_protocol.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <unordered_map>
#include <boost/json.hpp>

#include "api/codec.hpp"
#include "api/hub.hpp"
#include "core/logging.hpp"
#include "net/offload.hpp"

namespace parley::api {

namespace asio = boost::asio;
using net::WsConnection;
using namespace chat;

// How long a sync may wait for the cluster bus to confirm the user's subscription.
constexpr std::chrono::seconds kSubscribeWait{2};

namespace {

// The login session a `session` event revokes (logged out here or on another node), else 0.
SessionId revoked_session(const Event& event) {
  if (const auto* here = std::get_if<SessionRevokedEvent>(&event)) return here->session_id;
  if (const auto* relayed = std::get_if<RelayedEvent>(&event)) return relayed->revoked_session;
  return 0;
}

class WsSession final : public net::WsListener,
                        public EventSink,
                        public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(ApiContext& ctx, std::optional<Caller> caller) : ctx_(ctx), caller_(std::move(caller)) {}

  // ---- net::WsListener
  void on_open(const std::shared_ptr<WsConnection>& conn) override {
    conn_ = conn;
    if (caller_) {
      attach();
    } else {
      // Unauthenticated connections hold a socket: give them auth_timeout to identify.
      auth_timer_ = std::make_unique<asio::steady_timer>(conn->executor(),
                                                         ctx_.options.auth_timeout);
      auth_timer_->async_wait([weak = weak_from_this()](boost::system::error_code ec) {
        auto self = weak.lock();
        if (ec || !self || self->caller_ || !self->conn_) return;
        self->conn_->close(net::close_code::unauthenticated, "authentication timed out");
      });
    }
  }

  // Requests answered from memory (send on the fast path, auth, ping, typing) are handled here
  // and now; those that need the database come back as a coroutine for the connection to run.
  std::optional<asio::awaitable<void>> on_text(std::string_view text) override {
    // The request is parsed into an arena on this stack: what outlives this call (its id, the
    // request of an op that waits for the database) is copied to the heap first.
    JsonArena arena;
    auto request = parse_object(text, arena.storage());
    if (!request) {
      reply_error(json::value(nullptr), request.error());
      return std::nullopt;
    }
    json::value id(nullptr);
    if (const auto* given = request->if_contains("id")) id = json::value(*given, json::storage_ptr());
    auto op = opt_string(*request, "op");
    if (!op || !*op) {
      reply_error(id, op ? make_error(Errc::bad_request, "'op' is required") : op.error());
      return std::nullopt;
    }
    if (**op == "auth") {
      authenticate(id, *request);
      return std::nullopt;
    }
    if (!caller_) {
      reply_error(id, make_error(Errc::unauthenticated, "authenticate first: {\"op\":\"auth\"}"));
      conn_->close(net::close_code::unauthenticated, "not authenticated");
      return std::nullopt;
    }
    const std::string& name = **op;
    if (name == "send") return send(std::move(id), *request);
    if (name == "ping") {
      reply(id, json::object{});
      return std::nullopt;
    }
    // The rest wait for the database: a heap copy of the request goes into the coroutine's frame.
    auto kept = [&] { return json::object(*request, json::storage_ptr()); };
    if (name == "history") return history(std::move(id), kept());
    if (name == "sync") return sync(std::move(id));
    if (name == "delivered" || name == "read") return mark(std::move(id), kept(), name == "read");
    if (name == "typing") return typing(std::move(id), kept());
    if (name == "edit" || name == "delete") return change(std::move(id), kept(), name == "edit");
    if (name == "presence") return presence(std::move(id), kept());
    reply_error(id, make_error(Errc::unknown_op, "unknown op '" + name + "'"));
    return std::nullopt;
  }

  void on_close() override {
    if (auth_timer_) auth_timer_->cancel();
    if (attached_) {
      ctx_.hub.detach(conn_->shard(), caller_->user_id, this);
      if (ctx_.service.presence_closed(*caller_)) settle_presence_later();
    }
    conn_.reset();  // breaks the session ↔ connection cycle
  }

  // ---- EventSink
  void deliver(const Envelope& envelope, const net::Frame& frame) override {
    if (!conn_) return;
    if (const SessionId revoked = revoked_session(envelope.event)) {
      // Only the connections of the logged-out session, not the user's other devices.
      if (revoked != caller_->session_id) return;
      conn_->send(frame);
      conn_->close(net::close_code::unauthenticated, "logged out");
      return;
    }
    conn_->send(frame);
  }

 private:
  // Joins the fan-out. `auth_id`: the auth op to answer once subscribed (subscribed()).
  void attach(std::optional<json::value> auth_id = std::nullopt) {
    ctx_.hub.attach(conn_->shard(), caller_->user_id, shared_from_this(),
                    [weak = weak_from_this(), executor = conn_->executor(), auth_id] {
                      asio::post(executor, [weak, auth_id] {
                        if (auto self = weak.lock()) self->subscribed(auth_id);
                      });
                    });
    attached_ = true;
    log::info("event=ws_open conn={} user={}", conn_->id(), caller_->user_id);
    if (ctx_.service.presence_opened(*caller_)) {
      asio::post(ctx_.presence, [&ctx = ctx_, caller = *caller_] { ctx.service.arrive(caller); });
    }
  }

  // Every event for the user now reaches this session (in a cluster: Redis confirmed the
  // subscription). Only now is the auth op answered, and a sync read: what either shows the
  // client, live events continue without a hole.
  void subscribed(const std::optional<json::value>& auth_id) {
    subscribed_ = true;
    if (subscription_wait_) subscription_wait_->cancel();
    if (auth_id && conn_) {
      reply(*auth_id, json::object{{"user", json::object{{"id", caller_->user_id},
                                                         {"username", caller_->username}}}});
    }
  }

  // Suspends until subscribed(), for at most kSubscribeWait (a Redis that never answers must
  // not hold the connection: the cluster bus then tells sessions to resync anyway).
  asio::awaitable<void> until_subscribed() {
    if (subscribed_) co_return;
    if (!subscription_wait_) {
      subscription_wait_ = std::make_unique<asio::steady_timer>(conn_->executor(), kSubscribeWait);
    }
    boost::system::error_code ignored;
    co_await subscription_wait_->async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }

  // The user's last session closed: after the grace period, announce offline unless they came
  // back (a reload or a flaky network stays invisible to everyone else).
  void settle_presence_later() {
    auto timer = std::make_shared<asio::steady_timer>(conn_->executor(), ctx_.options.presence_grace);
    timer->async_wait([timer, &ctx = ctx_, caller = *caller_](boost::system::error_code ec) {
      if (ec) return;
      asio::post(ctx.presence, [&ctx, caller] { ctx.service.settle_presence(caller); });
    });
  }

  // {"re": id, "ok": true, …body}: built where body lives (an arena on the message path), so
  // its fields move instead of being copied.
  void reply(const json::value& id, json::object body) {
    json::object out(body.storage());
    out.reserve(body.size() + 2);
    out.emplace("re", id);
    out.emplace("ok", true);
    for (auto& field : body) out.emplace(field.key(), std::move(field.value()));
    conn_->send(net::text_frame(to_text(out)));
  }

  void reply_error(const json::value& id, const Error& e) {
    conn_->send(net::text_frame(
        to_text(json::object{{"re", id}, {"ok", false}, {"error", error_json(e)}})));
  }

  void authenticate(const json::value& id, const json::object& request) {
    if (caller_) {
      reply_error(id, make_error(Errc::bad_request, "already authenticated"));
      return;
    }
    auto token = req_string(request, "token");
    if (!token) {
      reply_error(id, token.error());
      conn_->close(net::close_code::unauthenticated, "authentication failed");
      return;
    }
    auto caller = ctx_.service.authenticate(*token);
    if (!caller) {
      reply_error(id, caller.error());
      conn_->close(net::close_code::unauthenticated, "authentication failed");
      return;
    }
    caller_ = std::move(*caller);
    if (auth_timer_) auth_timer_->cancel();
    attach(id);  // replies once the user's events are sure to reach this node
  }

  std::optional<asio::awaitable<void>> send(json::value id, json::object& request) {
    if (inflight_sends_ >= ctx_.options.max_inflight_sends) {
      reply_error(id, make_error(Errc::rate_limited,
                                 "too many unacknowledged sends; wait for acks"));
      return std::nullopt;
    }
    SendRequest s;
    auto conv = opt_string(request, "conv");
    auto to = opt_string(request, "to");
    auto client_msg_id = opt_string(request, "client_msg_id");
    auto body = opt_string(request, "body");
    auto reply_to = opt_int(request, "reply_to");
    for (const Error* e : {conv ? nullptr : &conv.error(), to ? nullptr : &to.error(),
                           client_msg_id ? nullptr : &client_msg_id.error(),
                           body ? nullptr : &body.error(), reply_to ? nullptr : &reply_to.error()}) {
      if (e) {
        reply_error(id, *e);
        return std::nullopt;
      }
    }
    s.conv = std::move(*conv);
    s.to = std::move(*to);
    s.client_msg_id = client_msg_id->value_or("");
    s.body = body->value_or("");
    s.reply_to = *reply_to;
    // Prepared one at a time (the next frame is read only after this), so one connection's
    // messages enter the log in the order they were sent. Usually from memory, right here.
    if (auto fast = ctx_.service.try_prepare_send(*caller_, s)) {
      append(std::move(id), std::move(*fast));
      return std::nullopt;
    }
    return prepare_and_append(std::move(id), std::move(s));
  }

  asio::awaitable<void> prepare_and_append(json::value id, SendRequest s) {
    auto prepared = co_await prepare_send(ctx_, *caller_, std::move(s));
    append(std::move(id), std::move(prepared));
  }

  // Not awaited: the next frame is read while this one commits (pipelining); the ack comes back
  // on this shard when the message is durable.
  void append(json::value id, Result<chat::NewMessage> prepared) {
    if (!prepared) return reply_error(id, prepared.error());
    ++inflight_sends_;
    ctx_.service.append(std::move(*prepared),
                        [self = shared_from_this(), id = std::move(id), conn = conn_](Result<Appended> r) {
                          conn->post([self, id, r = std::move(r)](WsConnection&) {
                            --self->inflight_sends_;
                            if (!r) return self->reply_error(id, r.error());
                            JsonArena arena;
                            json::object ack(arena.storage());
                            ack["msg"] = message_json(r->msg, arena.storage());
                            self->reply(id, std::move(ack));
                          });
                        });
  }

  // history {conv, before?, after?, limit?} — or {conv, changed_after: REV, limit?} for the
  // messages edited or deleted since a rev.
  asio::awaitable<void> history(json::value id, json::object request) {
    auto conv = req_string(request, "conv");
    if (!conv) co_return reply_error(id, conv.error());
    HistoryRequest h;
    std::optional<std::int64_t> changed_after;
    for (auto [name, field] :
         {std::pair{"before", &h.before}, std::pair{"after", &h.after},
          std::pair{"limit", &h.limit}, std::pair{"changed_after", &changed_after}}) {
      auto v = opt_int(request, name);
      if (!v) co_return reply_error(id, v.error());
      *field = *v;
    }
    auto page = co_await net::offload(ctx_.blocking, [&] {
      return changed_after ? ctx_.service.changes(*caller_, *conv, *changed_after, h.limit)
                           : ctx_.service.history(*caller_, *conv, h);
    });
    if (!page) co_return reply_error(id, page.error());
    auto body = page_json(*page);
    body.emplace("conv", *conv);
    reply(id, std::move(body));
  }

  asio::awaitable<void> sync(json::value id) {
    co_await until_subscribed();
    auto state = co_await net::offload(ctx_.blocking, [&] { return ctx_.service.sync(*caller_); });
    if (!state) co_return reply_error(id, state.error());
    reply(id, sync_json(*state));
  }

  // delivered {conv, seq} / read {conv, seq}
  asio::awaitable<void> mark(json::value id, json::object request, bool read) {
    auto conv = req_string(request, "conv");
    if (!conv) co_return reply_error(id, conv.error());
    auto seq = req_int(request, "seq");
    if (!seq) co_return reply_error(id, seq.error());
    auto cursors = co_await net::offload(ctx_.blocking, [&] {
      return ctx_.service.mark(*caller_, *conv, read ? 0 : *seq, read ? *seq : 0);
    });
    if (!cursors) co_return reply_error(id, cursors.error());
    reply(id, json::object{{"conv", *conv},
                           {"delivered_seq", cursors->delivered_seq},
                           {"read_seq", cursors->read_seq}});
  }

  // typing {conv}: at most one event per conversation per typing_interval from this session;
  // extra ones are acknowledged with "sent": false and go nowhere.
  asio::awaitable<void> typing(json::value id, json::object request) {
    auto conv = req_string(request, "conv");
    if (!conv) co_return reply_error(id, conv.error());
    const auto now = std::chrono::steady_clock::now();
    if (last_typing_.size() >= 64 && !last_typing_.contains(*conv)) {
      co_return reply_error(id, make_error(Errc::rate_limited, "typing in too many conversations"));
    }
    auto& last = last_typing_[*conv];
    if (last.time_since_epoch().count() != 0 && now - last < ctx_.options.typing_interval) {
      co_return reply(id, json::object{{"sent", false}});
    }
    auto status =
        co_await net::offload(ctx_.blocking, [&] { return ctx_.service.typing(*caller_, *conv); });
    if (!status) {
      last_typing_.erase(*conv);
      co_return reply_error(id, status.error());
    }
    last = now;
    if (last_typing_.size() > 64) {  // bounded per session: forget what no longer throttles
      std::erase_if(last_typing_, [&](const auto& entry) {
        return now - entry.second >= ctx_.options.typing_interval;
      });
    }
    reply(id, json::object{{"sent", true}});
  }

  // edit {conv, seq, body} / delete {conv, seq}
  asio::awaitable<void> change(json::value id, json::object request, bool edit) {
    auto conv = req_string(request, "conv");
    if (!conv) co_return reply_error(id, conv.error());
    auto seq = req_int(request, "seq");
    if (!seq) co_return reply_error(id, seq.error());
    std::optional<std::string> body;
    if (edit) {
      auto text = req_string(request, "body");
      if (!text) co_return reply_error(id, text.error());
      body = std::move(*text);
    }
    auto msg = co_await net::offload(ctx_.blocking, [&] {
      return ctx_.service.change_message(*caller_, *conv, *seq, std::move(body));
    });
    if (!msg) co_return reply_error(id, msg.error());
    reply(id, json::object{{"msg", message_json(*msg)}});
  }

  // presence {user}
  asio::awaitable<void> presence(json::value id, json::object request) {
    auto user = req_string(request, "user");
    if (!user) co_return reply_error(id, user.error());
    auto info =
        co_await net::offload(ctx_.blocking, [&] { return ctx_.service.presence_of(*caller_, *user); });
    if (!info) co_return reply_error(id, info.error());
    reply(id, presence_json(*info));
  }

  ApiContext& ctx_;
  std::optional<Caller> caller_;
  std::shared_ptr<WsConnection> conn_;
  std::unique_ptr<asio::steady_timer> auth_timer_;
  std::size_t inflight_sends_ = 0;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> last_typing_;
  bool attached_ = false;
  bool subscribed_ = false;
  std::unique_ptr<asio::steady_timer> subscription_wait_;  // until_subscribed()'s, once needed
};

}  // namespace

net::WsUpgrade accept_websocket(ApiContext& ctx, const net::HttpRequest& request) {
  auto reject = [](const Error& e) { return net::WsUpgrade{error_response(e), nullptr}; };
  if (request.path != "/ws") return reject(make_error(Errc::not_found, "no such route"));
  if (!origin_allowed(ctx.options, request.origin, request.host)) {
    return reject(make_error(Errc::forbidden, "origin not allowed"));
  }
  std::optional<std::string> token;
  if (auto bearer = bearer_token(request.authorization)) {
    token = std::string(*bearer);
  } else {
    token = query_param(request.query, "access_token");
  }
  std::optional<Caller> caller;
  if (token) {
    auto who = ctx.service.authenticate(*token);
    if (!who) return reject(who.error());
    caller = std::move(*who);
  }
  return net::WsUpgrade{std::nullopt, std::make_shared<WsSession>(ctx, std::move(caller))};
}

}  // namespace parley::api
