#include "api/ws_protocol.hpp"

#include <boost/json.hpp>

#include "api/codec.hpp"
#include "api/ws_carried_session.hpp"

namespace parley::api {

namespace asio = boost::asio;
using net::WsConnection;

namespace {

class WsSession final : public WsCarriedSession {
 public:
  WsSession(ApiContext& ctx, std::optional<Caller> caller)
      : WsCarriedSession(ctx, std::move(caller), "ws") {}

  // ---- net::WsListener
  void on_open(const std::shared_ptr<WsConnection>& conn) override {
    conn_ = conn;
    opened();
  }

  std::optional<asio::awaitable<void>> on_text(std::string_view text) override {
    // The request is parsed into an arena on this stack: what outlives this call (its id, the
    // fields of an operation that waits for the database) is copied to the heap first.
    JsonArena arena;
    auto frame = parse_object(text, arena.storage());
    if (!frame) {
      send_reply(json::value(nullptr), frame.error());
      return std::nullopt;
    }
    json::value id(nullptr);
    if (const auto* given = frame->if_contains("id")) id = json::value(*given, json::storage_ptr());
    auto op = opt_string(*frame, "op");
    if (!op || !*op) {
      send_reply(id, op ? make_error(Errc::bad_request, "'op' is required") : op.error());
      return std::nullopt;
    }
    return request(**op, std::move(id), *frame);
  }

  void on_close() override {
    closed();
    conn_.reset();  // breaks the session ↔ connection cycle
  }

 private:
  // ---- ClientSession
  // {"re": id, "ok": true, …result} or {"re": id, "ok": false, "error": {…}}: built in the
  // result's storage (an arena on the message path), its fields moved, not copied.
  void send_reply(const json::value& id, OpResult result) override {
    if (!conn_) return;
    if (!result) {
      conn_->send(net::text_frame(to_text(
          json::object{{"re", id}, {"ok", false}, {"error", error_json(result.error())}})));
      return;
    }
    auto& body = *result;
    json::object out(body.storage());
    out.reserve(body.size() + 2);
    out.emplace("re", id);
    out.emplace("ok", true);
    for (auto& field : body) out.emplace(field.key(), std::move(field.value()));
    conn_->send(net::text_frame(to_text(out)));
  }

  void send_event(const EventPtr& event) override {
    if (conn_) conn_->send(RenderedEvent::json_frame(event));
  }

  void end_unauthenticated(std::string_view reason) override {
    if (conn_) conn_->close(net::close_code::unauthenticated, reason);
  }

};

net::WsUpgrade accept_websocket(ApiContext& ctx, const net::HttpRequest& request) {
  auto reject = [](const Error& e) { return net::WsUpgrade{error_response(e), nullptr}; };
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

}  // namespace

void add_websocket_route(net::Router& router, ApiContext& ctx) {
  router.websocket("/ws", [&ctx](const net::HttpRequest& r) { return accept_websocket(ctx, r); });
}

}  // namespace parley::api
