#include "api/ws_protocol.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include "api/codec.hpp"
#include "api/hub.hpp"
#include "core/logging.hpp"
#include "net/offload.hpp"

namespace parley::api {

namespace asio = boost::asio;
using net::WsConnection;
using namespace chat;

namespace {

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

  asio::awaitable<void> on_text(std::string_view text) override {
    auto request = parse_object(text);
    if (!request) {
      reply_error(json::value(nullptr), request.error());
      co_return;
    }
    const json::value id = request->contains("id") ? (*request)["id"] : json::value(nullptr);
    auto op = opt_string(*request, "op");
    if (!op || !*op) {
      reply_error(id, op ? make_error(Errc::bad_request, "'op' is required") : op.error());
      co_return;
    }
    if (**op == "auth") {
      authenticate(id, *request);
      co_return;
    }
    if (!caller_) {
      reply_error(id, make_error(Errc::unauthenticated, "authenticate first: {\"op\":\"auth\"}"));
      conn_->close(net::close_code::unauthenticated, "not authenticated");
      co_return;
    }
    if (**op == "send") co_return co_await send(id, *request);
    if (**op == "history") co_return co_await history(id, *request);
    if (**op == "sync") co_return co_await sync(id);
    if (**op == "ping") co_return reply(id, json::object{});
    reply_error(id, make_error(Errc::unknown_op, "unknown op '" + **op + "'"));
  }

  void on_close() override {
    if (auth_timer_) auth_timer_->cancel();
    if (attached_) ctx_.hub.detach(conn_->shard(), caller_->user_id, this);
    conn_.reset();  // breaks the session ↔ connection cycle
  }

  // ---- EventSink
  void deliver(const Envelope&, const net::Frame& frame) override {
    if (conn_) conn_->send(frame);
  }

 private:
  void attach() {
    ctx_.hub.attach(conn_->shard(), caller_->user_id, shared_from_this());
    attached_ = true;
    log::info("event=ws_open conn={} user={}", conn_->id(), caller_->user_id);
  }

  void reply(const json::value& id, json::object body) {
    json::object out;
    out.reserve(body.size() + 2);
    out.emplace("re", id);
    out.emplace("ok", true);
    for (auto& field : body) out.emplace(field.key(), std::move(field.value()));
    conn_->send(json::serialize(out));
  }

  void reply_error(const json::value& id, const Error& e) {
    conn_->send(json::serialize(json::object{{"re", id}, {"ok", false}, {"error", error_json(e)}}));
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
    attach();
    reply(id, json::object{{"user", json::object{{"id", caller_->user_id},
                                                  {"username", caller_->username}}}});
  }

  asio::awaitable<void> send(const json::value& id, const json::object& request) {
    if (inflight_sends_ >= ctx_.options.max_inflight_sends) {
      reply_error(id, make_error(Errc::rate_limited,
                                 "too many unacknowledged sends; wait for acks"));
      co_return;
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
      if (e) co_return reply_error(id, *e);
    }
    s.conv = std::move(*conv);
    s.to = std::move(*to);
    s.client_msg_id = client_msg_id->value_or("");
    s.body = body->value_or("");
    s.reply_to = *reply_to;
    // Prepared one at a time (this coroutine is awaited before the next frame is read), so one
    // connection's messages enter the log in the order they were sent.
    auto prepared = co_await net::offload(ctx_.blocking, [&] {
      return ctx_.service.prepare_send(*caller_, std::move(s));
    });
    if (!prepared) co_return reply_error(id, prepared.error());
    // Not awaited: the next frame is read while this one commits (pipelining); the ack comes
    // back on this shard when the message is durable.
    ++inflight_sends_;
    ctx_.service.append(std::move(*prepared),
                        [self = shared_from_this(), id, conn = conn_](Result<Appended> r) {
                          conn->post([self, id, r = std::move(r)](WsConnection&) {
                            --self->inflight_sends_;
                            if (!r) return self->reply_error(id, r.error());
                            self->reply(id, json::object{{"msg", message_json(r->msg)}});
                          });
                        });
  }

  asio::awaitable<void> history(const json::value& id, const json::object& request) {
    auto conv = req_string(request, "conv");
    if (!conv) co_return reply_error(id, conv.error());
    HistoryRequest h;
    for (auto [name, field] : {std::pair{"before", &h.before}, std::pair{"after", &h.after},
                               std::pair{"limit", &h.limit}}) {
      auto v = opt_int(request, name);
      if (!v) co_return reply_error(id, v.error());
      *field = *v;
    }
    auto page =
        co_await net::offload(ctx_.blocking, [&] { return ctx_.service.history(*caller_, *conv, h); });
    if (!page) co_return reply_error(id, page.error());
    json::array messages;
    messages.reserve(page->messages.size());
    for (const auto& m : page->messages) messages.push_back(message_json(m));
    reply(id, json::object{{"conv", *conv}, {"messages", std::move(messages)},
                           {"has_more", page->has_more}});
  }

  asio::awaitable<void> sync(const json::value& id) {
    auto list =
        co_await net::offload(ctx_.blocking, [&] { return ctx_.service.conversations(*caller_); });
    if (!list) co_return reply_error(id, list.error());
    json::array out;
    for (const auto& s : *list) out.push_back(summary_json(s));
    reply(id, json::object{{"conversations", std::move(out)}});
  }

  ApiContext& ctx_;
  std::optional<Caller> caller_;
  std::shared_ptr<WsConnection> conn_;
  std::unique_ptr<asio::steady_timer> auth_timer_;
  std::size_t inflight_sends_ = 0;
  bool attached_ = false;
};

}  // namespace

net::WsUpgrade accept_websocket(ApiContext& ctx, const net::HttpRequest& request) {
  auto reject = [](const Error& e) {
    net::HttpResponse r;
    r.status = http_status(e.code);
    r.body = error_body(e);
    if (r.status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return net::WsUpgrade{r, nullptr};
  };
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
