#include "api/socketio/socketio_routes.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include "api/codec.hpp"
#include "api/socketio/engine_io.hpp"
#include "api/socketio/socket_io.hpp"
#include "api/ws_carried_session.hpp"
#include "auth/base64.hpp"
#include "core/ids.hpp"
#include "core/failures.hpp"
#include "core/logging.hpp"
#include "net/ws_connection.hpp"

namespace parley::api {

namespace asio = boost::asio;
using net::WsConnection;

namespace {

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

std::string new_sid() { return auth::base64url_encode(secure_random_bytes(15)); }

class SioWsSession final : public WsCarriedSession {
 public:
  SioWsSession(ApiContext& ctx, std::string sid)
      : WsCarriedSession(ctx, "socketio"), sid_(std::move(sid)) {}

  // ---- net::WsListener
  void on_open(const std::shared_ptr<WsConnection>& conn) override {
    conn_ = conn;
    send_text(eio::open_packet({sid_, false,
                                static_cast<int>(ctx_.options.eio_ping_interval.count()),
                                static_cast<int>(ctx_.options.eio_ping_timeout.count()),
                                ctx_.options.eio_max_payload}));
    // No namespace joined within the connect timeout: the connection closes (no CONNECT_ERROR,
    // as the reference server does).
    opened(std::chrono::duration_cast<std::chrono::milliseconds>(ctx_.options.sio_connect_timeout));
    heartbeat_ = std::make_unique<asio::steady_timer>(conn_->executor());
    schedule_ping();
  }

  std::optional<asio::awaitable<void>> on_text(std::string_view text) override {
    const auto packet = eio::decode_text(text);
    if (!packet) return fail("malformed Engine.IO packet");
    switch (packet->type) {
      case eio::PacketType::pong:
        if (awaiting_pong_) {
          awaiting_pong_ = false;
          schedule_ping();
        }
        return std::nullopt;
      case eio::PacketType::message:
        return on_socketio(packet->data);
      case eio::PacketType::close:
        close_connection("client closed");
        return std::nullopt;
      default:  // a ping (v4: the server pings), an upgrade or noop on a WebSocket session
        return fail("unexpected Engine.IO packet");
    }
  }

  // A binary frame is a binary Engine.IO message: the next attachment of the binary packet
  // waiting for it. Its last one runs the packet as an event (an op's fields may hold
  // placeholders; no op reads binary data yet).
  bool on_binary(std::string_view bytes) override {
    auto done = attachments_.add(std::string(bytes));
    if (!done) {
      fail(done.error().message);
      return true;
    }
    if (*done) {
      // Run now; an op that must wait answers through its ack like any other.
      if (auto later = on_event(**done)) {
        asio::co_spawn(conn_->executor(), std::move(*later), log_failure("socketio_binary_event"));
      }
    }
    return true;
  }

  void on_close() override {
    if (heartbeat_) heartbeat_->cancel();
    closed();
    conn_.reset();  // breaks the session ↔ connection cycle
  }

 private:
  std::optional<asio::awaitable<void>> on_socketio(std::string_view text) {
    if (attachments_.waiting()) return fail("a packet while a binary packet's attachments are due");
    auto packet = sio::decode(text);
    if (!packet) return fail(packet.error().message);
    switch (packet->type) {
      case sio::PacketType::connect:
        return on_connect(*packet);
      case sio::PacketType::event:
        if (!connected_) return fail("an event before CONNECT");
        return on_event(*packet);
      case sio::PacketType::disconnect:
        // The only namespace is left: nothing more can travel, so the connection closes.
        close_connection("client disconnected");
        return std::nullopt;
      case sio::PacketType::binary_event:
        if (!connected_) return fail("an event before CONNECT");
        if (packet->attachments == 0) return on_event(*packet);
        attachments_.begin(std::move(*packet));
        return std::nullopt;
      default:  // ACK (the server asks for none), CONNECT_ERROR, BINARY_ACK from a client
        return fail("unexpected Socket.IO packet");
    }
  }

  std::optional<asio::awaitable<void>> on_connect(const sio::Packet& packet) {
    if (connect_pending_ || connected_) return fail("CONNECT to a namespace already joined");
    if (packet.nsp != "/") {
      send_sio({sio::PacketType::connect_error, packet.nsp, std::nullopt,
                             json::object{{"message", "Invalid namespace"}}, 0, {}});
      return std::nullopt;
    }
    json::object args;
    if (packet.data.is_object()) args = packet.data.as_object();
    connect_pending_ = true;
    return request("auth", kConnectId, args);
  }

  std::optional<asio::awaitable<void>> on_event(const sio::Packet& packet) {
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
    if (name == "auth") {
      send_reply(id, make_error(Errc::bad_request, "authenticate in the CONNECT packet"));
      return std::nullopt;
    }
    return request(name, id, args);
  }

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
    send_sio(
        {sio::PacketType::ack, "/", id.as_int64(), json::array{std::move(reply)}, 0, {}});
  }

  void answer_connect(OpResult result) {
    connect_pending_ = false;
    if (!result) {
      refused_ = true;  // end_unauthenticated follows: the connection stays, as the reference's
      send_sio({sio::PacketType::connect_error, "/", std::nullopt,
                             json::object{{"message", result.error().message}}, 0, {}});
      return;
    }
    connected_ = true;
    send_sio({sio::PacketType::connect, "/", std::nullopt,
                           json::object{{"sid", new_sid()}}, 0, {}});
  }

  void send_event(const EventPtr& event) override {
    if (conn_ && connected_) conn_->send(RenderedEvent::frame_in(event, kSocketIoEvents));
  }

  void end_unauthenticated(std::string_view reason) override {
    if (std::exchange(refused_, false)) return;  // CONNECT_ERROR said it; the client may retry
    if (connected_) send_text("41");              // logged out: the namespace is left
    close_connection(reason);
  }

  // ---- Engine.IO
  // A Socket.IO packet, in an Engine.IO message ("4" and the packet).
  void send_sio(const sio::Packet& packet) { send_text("4" + sio::encode(packet)); }
  void send_text(std::string text) {
    if (conn_) conn_->send(net::text_frame(std::move(text)));
  }

  // A malformed or out-of-place packet ends the whole connection (the reference server's rule).
  std::optional<asio::awaitable<void>> fail(std::string_view why) {
    log::info("event=socketio_protocol_error {} error=\"{}\"", describe(), why);
    close_connection(why);
    return std::nullopt;
  }

  void close_connection(std::string_view why) {
    if (heartbeat_) heartbeat_->cancel();
    if (conn_) conn_->close(net::close_code::normal, why);
  }

  // Every ping_interval a ping; no pong within ping_timeout closes the connection.
  void schedule_ping() {
    heartbeat_->expires_after(ctx_.options.eio_ping_interval);
    heartbeat_->async_wait([weak = weak_from_this(), this](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || !conn_) return;
      send_text("2");
      awaiting_pong_ = true;
      heartbeat_->expires_after(ctx_.options.eio_ping_timeout);
      heartbeat_->async_wait([weak, this](boost::system::error_code ec2) {
        auto again = weak.lock();
        if (ec2 || !again || !awaiting_pong_) return;
        log::info("event=socketio_ping_timeout {}", describe());
        close_connection("ping timeout");
      });
    });
  }

  std::string sid_;
  std::unique_ptr<asio::steady_timer> heartbeat_;
  sio::BinaryAssembler attachments_;
  bool awaiting_pong_ = false;
  bool connect_pending_ = false;
  bool connected_ = false;
  bool refused_ = false;
};

// Engine.IO's answer to a refused request: its status and {"code","message"}.
net::WsUpgrade refuse(const eio::HandshakeError& error) {
  net::HttpResponse r;
  r.status = error.status;
  r.body = eio::error_body(error);
  return net::WsUpgrade{std::move(r), nullptr};
}

net::WsUpgrade accept_socketio(ApiContext& ctx, const net::HttpRequest& request) {
  if (!origin_allowed(ctx.options, request.origin, request.host)) return refuse(eio::kForbidden);
  const auto transport = query_param(request.query, "transport");
  if (!transport || *transport != "websocket") return refuse(eio::kUnknownTransport);
  if (query_param(request.query, "sid")) return refuse(eio::kUnknownSid);  // no polling yet
  if (query_param(request.query, "EIO") != "4") return refuse(eio::kUnsupportedProtocolVersion);
  return net::WsUpgrade{std::nullopt, std::make_shared<SioWsSession>(ctx, new_sid()),
                        ctx.options.eio_max_payload};
}

// HTTP long-polling is not served yet: a polling request gets Engine.IO's "Transport unknown",
// and socket.io-client must be told `transports: ["websocket"]`.
asio::awaitable<net::HttpResponse> refuse_polling(net::HttpRequest&) {
  co_return *refuse(eio::kUnknownTransport).reject;
}

}  // namespace

void add_socketio_routes(net::Router& router, ApiContext& ctx) {
  router.websocket("/socket.io/",
                   [&ctx](const net::HttpRequest& r) { return accept_socketio(ctx, r); });
  router.add("GET", "/socket.io/", &refuse_polling);
  router.add("POST", "/socket.io/", &refuse_polling);
}

}  // namespace parley::api
