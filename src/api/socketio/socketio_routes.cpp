#include "api/socketio/socketio_routes.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "api/client_session.hpp"
#include "api/codec.hpp"
#include "api/socketio/eio_session.hpp"
#include "api/socketio/engine_io.hpp"
#include "api/socketio/sio_connection.hpp"
#include "api/socketio/socket_io.hpp"
#include "core/logging.hpp"

namespace parley::api {

namespace asio = boost::asio;
using eio::EioSession;

namespace {

// ---- chat on the main namespace

// A server event as Socket.IO emits it: 42["name",<the /ws event JSON>].
std::string socketio_event(std::string_view name, std::string_view json) {
  std::string out;
  out.reserve(name.size() + json.size() + 8);
  out += "42[\"";
  out += name;  // event names are plain identifiers (docs/protocol.md)
  out += "\",";
  out += json;
  out += ']';
  return out;
}
const WireFormat kSocketIoEvents(&socketio_event);

// The id under which a CONNECT's authentication runs through ClientSession::request: ack ids
// are integers, so a string cannot be mistaken for one.
const json::value kConnectId("socket.io connect");

// A client's chat session on "/": the CONNECT's {token} authenticates it, ops are events with
// acks, server events are emitted under their names.
class SioChatSocket final : public ClientSession, public sio::NamespaceSocket {
 public:
  SioChatSocket(ApiContext& ctx, sio::SioConnection& conn)
      : ClientSession(ctx, std::nullopt),
        conn_(&conn),
        executor_(conn.session().home().executor),
        mailbox_(conn.session().home().mailbox),
        shard_(conn.session().home().shard),
        describe_(conn.session().describe()) {}

  void join(const json::value& auth) {
    json::object args;
    if (auth.is_object()) args = auth.as_object();
    opened();
    request("auth", kConnectId, args);  // answered through send_reply(kConnectId, …)
  }

  // ---- sio::NamespaceSocket
  std::optional<asio::awaitable<void>> on_event(sio::Packet& packet) override {
    const auto& items = packet.data.as_array();
    const json::value id = packet.id ? json::value(*packet.id) : json::value(nullptr);
    if (!items[0].is_string()) {
      send_reply(id, make_error(Errc::bad_request, "the event name must be a string"));
      return std::nullopt;
    }
    json::object args;
    if (items.size() > 1) {
      if (!items[1].is_object()) {
        send_reply(id, make_error(Errc::bad_request, "the event's argument must be an object"));
        return std::nullopt;
      }
      args = items[1].as_object();
    }
    const std::string name(items[0].as_string());
    if (name == "auth" && !caller()) {  // once connected, "auth" renews the token
      send_reply(id, make_error(Errc::bad_request, "authenticate in the CONNECT packet"));
      return std::nullopt;
    }
    return request(name, id, args);
  }

  void on_leave(std::string_view) override {
    conn_ = nullptr;
    closed();
  }

 private:
  // ---- ClientSession
  // An ack: 3<id>[{"ok":true,…}] or 3<id>[{"ok":false,"error":{…}}], the /ws reply without
  // "re". Events sent without an ack id get no answer.
  void send_reply(const json::value& id, OpResult result) override {
    if (!conn_) return;
    if (id == kConnectId) return answer_connect(std::move(result));
    if (!id.is_int64()) return;
    json::object reply;
    if (!result) {
      reply = json::object{{"ok", false}, {"error", error_json(result.error())}};
    } else {
      reply.reserve(result->size() + 1);
      reply.emplace("ok", true);
      for (auto& field : *result) reply.emplace(field.key(), std::move(field.value()));
    }
    conn_->send({sio::PacketType::ack, "/", id.as_int64(), json::array{std::move(reply)}, 0, {}});
  }

  void answer_connect(OpResult result) {
    if (!result) {
      // CONNECT_ERROR; the connection stays, and the client may CONNECT again.
      refused_ = true;
      auto* conn = std::exchange(conn_, nullptr);
      conn->refuse("/", result.error().message);
      return;
    }
    accepted_ = true;
    conn_->accept("/");
  }

  void send_event(const EventPtr& event) override {
    if (conn_ && accepted_) conn_->send_frame(RenderedEvent::frame_in(event, kSocketIoEvents));
  }

  void end_unauthenticated(std::string_view reason) override {
    if (refused_) {  // CONNECT_ERROR said it
      closed();
      return;
    }
    // Logged out, or the auth never came: the namespace is left (DISCONNECT), on_leave follows.
    if (conn_) conn_->leave("/", reason);
  }

  // Through the shard's mailbox, as the Hub hands over events: an ack cannot overtake an event
  // handed over before it (net/shards.hpp).
  void on_shard(std::function<void()> fn) override {
    auto task = [weak = weak_from_this(), fn = std::move(fn)] {
      if (auto self = weak.lock()) fn();  // held while fn runs
    };
    if (mailbox_) {
      mailbox_->post(std::move(task));
    } else {
      asio::post(executor_, std::move(task));
    }
  }
  asio::any_io_executor executor() override { return executor_; }
  std::size_t shard() const override { return shard_; }
  std::string describe() const override { return describe_; }

  sio::SioConnection* conn_;  // null once the namespace is left
  asio::any_io_executor executor_;
  net::Mailbox* mailbox_;
  std::size_t shard_;
  std::string describe_;
  bool accepted_ = false;
  bool refused_ = false;
};

class ChatNamespaces final : public sio::SioNamespaces {
 public:
  explicit ChatNamespaces(ApiContext& ctx) : ctx_(ctx) {}
  std::shared_ptr<sio::NamespaceSocket> connect(sio::SioConnection& conn, const std::string& nsp,
                                                const json::value& auth) override {
    if (nsp != "/") return nullptr;
    auto socket = std::make_shared<SioChatSocket>(ctx_, conn);
    socket->join(auth);
    return socket;
  }

 private:
  ApiContext& ctx_;
};

// ---- the protocol-test mode (docs/operations.md, "--protocol-test"): the servers the
// official Engine.IO and Socket.IO test suites expect.

// /engine.io/: every message is sent back.
class EchoHandler final : public eio::EioHandler {
 public:
  explicit EchoHandler(EioSession& session) : session_(&session) {}
  void on_open() override {}
  std::optional<asio::awaitable<void>> on_message(std::string_view text) override {
    if (session_) session_->send_message(text);
    return std::nullopt;
  }
  std::optional<asio::awaitable<void>> on_binary(std::string bytes) override {
    if (session_) session_->send_binary(std::move(bytes));
    return std::nullopt;
  }
  void on_close(std::string_view) override { session_ = nullptr; }

 private:
  EioSession* session_;
};

// "/" and "/custom": emit "auth" with the CONNECT payload; "message" comes back as
// "message-back"; "message-with-ack" is acked with its arguments.
class EchoSocket final : public sio::NamespaceSocket {
 public:
  EchoSocket(sio::SioConnection& conn, std::string nsp) : conn_(&conn), nsp_(std::move(nsp)) {}
  std::optional<asio::awaitable<void>> on_event(sio::Packet& packet) override {
    auto args = packet.data.as_array();
    const bool binary = !packet.buffers.empty();
    if (args[0] == "message") {
      args[0] = "message-back";
      conn_->send({binary ? sio::PacketType::binary_event : sio::PacketType::event, nsp_,
                   std::nullopt, std::move(args), 0, std::move(packet.buffers)});
    } else if (args[0] == "message-with-ack" && packet.id) {
      args.erase(args.begin());
      conn_->send({binary ? sio::PacketType::binary_ack : sio::PacketType::ack, nsp_, packet.id,
                   std::move(args), 0, std::move(packet.buffers)});
    }
    return std::nullopt;
  }
  void on_leave(std::string_view) override { conn_ = nullptr; }

 private:
  sio::SioConnection* conn_;
  std::string nsp_;
};

class TestNamespaces final : public sio::SioNamespaces {
 public:
  std::shared_ptr<sio::NamespaceSocket> connect(sio::SioConnection& conn, const std::string& nsp,
                                                const json::value& auth) override {
    if (nsp != "/" && nsp != "/custom") return nullptr;
    auto socket = std::make_shared<EchoSocket>(conn, nsp);
    conn.accept(nsp);
    conn.send({sio::PacketType::event, nsp, std::nullopt,
               json::array{"auth", auth.is_object() ? auth : json::object{}}, 0, {}});
    return socket;
  }
};

// ---- an Engine.IO endpoint: its sessions, and what runs over them

struct Endpoint {
  using MakeHandler = std::function<std::shared_ptr<eio::EioHandler>(EioSession&)>;
  Endpoint(ApiContext& c, MakeHandler make) : ctx(c), make_handler(std::move(make)) {
    options.ping_interval = ctx.options.eio_ping_interval;
    options.ping_timeout = ctx.options.eio_ping_timeout;
    options.max_payload = ctx.options.eio_max_payload;
    options.max_buffered_bytes = ctx.options.max_outbound_bytes;
  }
  std::shared_ptr<EioSession> open(const EioSession::Home& home, bool polling) {
    auto session =
        std::make_shared<EioSession>(options, home, eio::new_sid(), polling ? &registry : nullptr);
    session->set_handler(make_handler(*session));
    if (polling) registry.add(session);
    return session;
  }

  ApiContext& ctx;
  MakeHandler make_handler;
  eio::SessionOptions options;
  eio::EioRegistry registry;
};

net::WsUpgrade accept_websocket(Endpoint& ep, const net::HttpRequest& request) {
  auto refuse = [](const eio::HandshakeError& e) { return net::WsUpgrade{eio::refusal(e), nullptr}; };
  if (!origin_allowed(ep.ctx.options, request.origin, request.host)) return refuse(eio::kForbidden);
  if (query_param(request.query, "transport") != "websocket") return refuse(eio::kUnknownTransport);
  const std::size_t max = ep.ctx.options.eio_max_payload;
  if (const auto sid = query_param(request.query, "sid")) {
    auto session = ep.registry.find(*sid);
    if (!session) return refuse(eio::kUnknownSid);
    return net::WsUpgrade{std::nullopt, std::make_shared<eio::EioWsCarrier>(std::move(session)),
                          max};
  }
  if (query_param(request.query, "EIO") != "4") return refuse(eio::kUnsupportedProtocolVersion);
  auto make = [&ep](const EioSession::Home& home) { return ep.open(home, false); };
  return net::WsUpgrade{std::nullopt, std::make_shared<eio::EioWsCarrier>(std::move(make)), max};
}

// CORS for a browser page on another origin that is allowed (--allowed-origins): its origin,
// with credentials. Nothing for a request without Origin or from the server's own.
void add_cors(const net::HttpRequest& request, net::HttpResponse& response) {
  if (request.origin.empty()) return;
  response.headers.emplace_back("Access-Control-Allow-Origin", request.origin);
  response.headers.emplace_back("Access-Control-Allow-Credentials", "true");
  response.headers.emplace_back("Vary", "Origin");
}

// Runs one poll or post on the session's home shard and resumes here with its answer.
asio::awaitable<net::HttpResponse> on_home(std::size_t here, const std::shared_ptr<EioSession>& session,
                                           asio::awaitable<net::HttpResponse> task) {
  if (session->home().shard == here) co_return co_await std::move(task);
  co_return co_await asio::co_spawn(session->home().executor, std::move(task), asio::use_awaitable);
}

asio::awaitable<net::HttpResponse> answer_polling(Endpoint& ep, net::HttpRequest& request) {
  if (!origin_allowed(ep.ctx.options, request.origin, request.host)) {
    co_return eio::refusal(eio::kForbidden);
  }
  if (request.method == "OPTIONS") {  // a CORS preflight
    net::HttpResponse r;
    r.status = 204;
    r.content_type.clear();
    add_cors(request, r);
    r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST");
    r.headers.emplace_back("Access-Control-Allow-Headers", "Content-Type, Authorization");
    r.headers.emplace_back("Access-Control-Max-Age", "86400");
    co_return r;
  }
  const auto transport = query_param(request.query, "transport");
  if (transport != "polling") {
    // websocket without the upgrade headers is a bad request; anything else is unknown.
    co_return eio::refusal(transport == "websocket" ? eio::kBadRequest : eio::kUnknownTransport);
  }
  net::HttpResponse response;
  const auto sid = query_param(request.query, "sid");
  if (!sid) {
    if (request.method != "GET") co_return eio::refusal(eio::kBadHandshakeMethod);
    if (query_param(request.query, "EIO") != "4") co_return eio::refusal(eio::kUnsupportedProtocolVersion);
    const auto executor = co_await asio::this_coro::executor;
    response = ep.open({executor, request.shard, request.conn_id, request.mailbox}, true)
                   ->open_polling();
  } else {
    auto session = ep.registry.find(*sid);
    if (!session) co_return eio::refusal(eio::kUnknownSid);
    if (request.method == "GET") {
      auto task = session->poll();
      response = co_await on_home(request.shard, session, std::move(task));
    } else if (request.method == "POST") {
      auto task = session->post_payload(std::move(request.body));
      response = co_await on_home(request.shard, session, std::move(task));
    } else {
      co_return eio::refusal(eio::kBadRequest);
    }
  }
  add_cors(request, response);
  co_return response;
}

void add_endpoint(net::Router& router, const std::string& path, std::shared_ptr<Endpoint> ep) {
  ep->ctx.on_drain.push_back([ep] { ep->registry.close_all("server shutting down"); });
  router.websocket(path, [ep](const net::HttpRequest& r) { return accept_websocket(*ep, r); });
  auto polling = [ep](net::HttpRequest& r) { return answer_polling(*ep, r); };
  router.add("GET", path, polling);
  // A POST carries at most maxPayload bytes (the server answers 413 past it).
  router.add("POST", path, polling, {.max_body_bytes = ep->ctx.options.eio_max_payload});
  router.add("OPTIONS", path, polling);
  router.add("PUT", path, polling);  // refused as the reference does: 400, not 405
}

}  // namespace

void add_socketio_routes(net::Router& router, ApiContext& ctx) {
  const auto timeout = ctx.options.sio_connect_timeout;
  auto socketio = [timeout](std::shared_ptr<sio::SioNamespaces> namespaces) {
    return [timeout, namespaces](EioSession& session) -> std::shared_ptr<eio::EioHandler> {
      // The handler keeps the namespaces alive through the lambda that made it (the route's).
      return std::make_shared<sio::SioConnection>(session, *namespaces, timeout);
    };
  };
  if (ctx.options.protocol_test) {
    log::warn("event=protocol_test paths=/engine.io/,/socket.io/ chat_over_socketio=off");
    add_endpoint(router, "/engine.io/",
                 std::make_shared<Endpoint>(ctx, [](EioSession& session) {
                   return std::make_shared<EchoHandler>(session);
                 }));
    add_endpoint(router, "/socket.io/",
                 std::make_shared<Endpoint>(ctx, socketio(std::make_shared<TestNamespaces>())));
    return;
  }
  add_endpoint(router, "/socket.io/",
               std::make_shared<Endpoint>(ctx, socketio(std::make_shared<ChatNamespaces>(ctx))));
}

}  // namespace parley::api
