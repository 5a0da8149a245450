#pragma once
// EioSession: one Engine.IO v4 session (https://socket.io/docs/v4/engine-io-protocol/), whatever
// carries it — HTTP long-polling, a WebSocket, or polling first and then a WebSocket it upgrades
// to. It owns what the protocol asks of a session: the sid, the heartbeat (server pings, the
// client's pongs, the timeout), the packets waiting for the next poll, the upgrade (2probe/3probe,
// noop to the pending poll, 5) and the errors of the published protocol. What the messages mean
// is the EioHandler's (Socket.IO: api/socketio/sio_connection.hpp; the protocol-test echo).
//
// Transports hand the session what they receive and it answers:
//   polling   the /socket.io/ routes look the sid up in the EioRegistry and run poll() (GET) or
//             post() (POST) on the session's home shard (co_spawn), resuming on their own.
//   WebSocket EioWsCarrier (below) is the connection's WsListener: a new session lives on the
//             connection's shard; an upgrade's WebSocket may be on another shard, and the carrier
//             then posts what it reads to the session's shard and the session posts what it writes
//             to the connection's.
//
// Ownership: the registry holds a polling session until it closes; a carrier holds its session;
// running polls hold it. The session holds its handler until it closes; the handler's back
// pointer is cleared then (EioHandler::on_close).
// Threads: everything on the home shard (the shard of the request or connection that opened
// it), except where a function says otherwise.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "api/socketio/engine_io.hpp"
#include "net/http_types.hpp"
#include "net/ws_connection.hpp"

namespace parley::api::eio {

struct SessionOptions {
  std::chrono::milliseconds ping_interval{25000};
  std::chrono::milliseconds ping_timeout{20000};
  std::size_t max_payload = 1000000;
  // Most bytes of packets waiting for the client's next poll; past it the session closes, as a
  // WebSocket past its write queue bound does (a client that stopped polling).
  std::size_t max_buffered_bytes = 1 << 20;
  // A WebSocket that sent 2probe has this long to send 5 (the reference's upgradeTimeout).
  std::chrono::milliseconds upgrade_timeout{10000};
};

// A new session id: 20 URL-safe characters from 15 random bytes. Also the sid of a joined
// Socket.IO namespace.
std::string new_sid();
// The answer to a refused Engine.IO request: its status and {"code","message"}.
net::HttpResponse refusal(const HandshakeError& error);

// What runs over an Engine.IO session: its messages' meaning. On the home shard.
class EioHandler {
 public:
  virtual ~EioHandler() = default;
  // The open packet is out; the session may send.
  virtual void on_open() = 0;
  // One text message (an Engine.IO "4" packet's data). As net::WsListener::on_text: a returned
  // coroutine runs before the session hands over the client's next packet.
  virtual std::optional<boost::asio::awaitable<void>> on_message(std::string_view text) = 0;
  // One binary message, as on_message.
  virtual std::optional<boost::asio::awaitable<void>> on_binary(std::string bytes) = 0;
  // The session is closed; nothing more can be sent. Called once.
  virtual void on_close(std::string_view reason) = 0;
};

class EioRegistry;

class EioSession : public std::enable_shared_from_this<EioSession> {
 public:
  struct Home {
    boost::asio::any_io_executor executor;
    std::size_t shard = 0;
    std::uint64_t conn_id = 0;  // the opening connection, for logs
    // The shard's ordered queue: what other threads hand to the session (its acks, as the Hub
    // hands it events) goes through it, so that they cannot overtake each other.
    net::Mailbox* mailbox = nullptr;
  };
  // `registry`: where a polling session is registered under its sid (it leaves it when it
  // closes); null for a session opened by a WebSocket, which no request can name.
  EioSession(const SessionOptions& options, Home home, std::string sid, EioRegistry* registry);
  ~EioSession();

  const std::string& sid() const { return sid_; }
  const Home& home() const { return home_; }
  // Any thread (immutable): for logs, "transport=socketio sid=… conn=…".
  std::string describe() const;
  void set_handler(std::shared_ptr<EioHandler> handler) { handler_ = std::move(handler); }
  // Runs fn on the home shard, from any thread, unless the session is gone by then.
  void post(std::function<void()> fn);

  // ---- the polling transport (from the routes, on the home shard)
  // The handshake: the open packet, as the first GET's answer. Starts the heartbeat.
  net::HttpResponse open_polling();
  // GET: the waiting packets as one payload, now or as soon as there are some.
  boost::asio::awaitable<net::HttpResponse> poll();
  // POST: the client's packets, handled in order; "ok".
  boost::asio::awaitable<net::HttpResponse> post_payload(std::string body);

  // ---- the WebSocket transport (from EioWsCarrier, on the home shard)
  // A connection opened a new session (the carrier is on the home shard).
  void open_websocket(const std::shared_ptr<net::WsConnection>& conn);
  // A connection with this session's sid: the start of an upgrade, or refused (closed).
  void probe_websocket(const std::shared_ptr<net::WsConnection>& conn);
  std::optional<boost::asio::awaitable<void>> on_ws_text(const net::WsConnection* conn,
                                                         std::string_view text);
  std::optional<boost::asio::awaitable<void>> on_ws_binary(const net::WsConnection* conn,
                                                           std::string bytes);
  // The same, for a carrier on another shard: run on the home shard by co_spawn.
  boost::asio::awaitable<void> ws_message_task(const net::WsConnection* conn, std::string data,
                                               bool binary);
  void on_ws_closed(const net::WsConnection* conn);

  // ---- for the handler
  // Sends one message packet (text) or binary message.
  void send_message(std::string_view text);
  void send_binary(std::string bytes);
  // A message packet already framed for a WebSocket ("4…" as a text frame): the same frame is
  // written to every recipient on a WebSocket (api/codec.hpp, RenderedEvent::frame_in).
  void send_frame(const net::Frame& frame);
  // The server ends the session: the pending poll gets the close packet, a WebSocket closes.
  void close(std::string_view reason) { end(reason, false); }
  bool closed() const { return closed_; }

 private:
  enum class Transport { polling, websocket };

  // The open packet's text; `can_upgrade` on polling.
  std::string open_text(bool can_upgrade) const;
  std::optional<boost::asio::awaitable<void>> on_packet(const Packet& packet);
  // The active transport writes a text packet or, on polling, the payload record (a text
  // packet, or "b" and base64) waits for the next poll.
  void send_record(std::string record);
  void send_text_packet(PacketType type, std::string_view data);
  void write_ws(const std::shared_ptr<net::WsConnection>& conn, net::Frame frame);
  void close_ws(const std::shared_ptr<net::WsConnection>& conn, std::string_view why);
  // Ends the session. `by_client`: the client's close packet (the pending poll gets a noop, as
  // the reference's; otherwise the close packet).
  void end(std::string_view reason, bool by_client);
  void wake_poll();
  void schedule_ping();
  void finish_upgrade();
  void abandon_upgrade(std::string_view why);
  net::HttpResponse take_payload();

  const SessionOptions options_;
  const Home home_;
  const std::string sid_;
  EioRegistry* const registry_;
  std::shared_ptr<EioHandler> handler_;
  Transport transport_;
  std::shared_ptr<net::WsConnection> ws_;     // the WebSocket transport, once it is active
  std::shared_ptr<net::WsConnection> probe_;  // an upgrade's WebSocket, until its 5
  boost::asio::steady_timer heartbeat_;
  boost::asio::steady_timer poll_wake_;       // the pending GET waits on it
  boost::asio::steady_timer upgrade_timer_;   // the upgrade's deadline
  // Payload records (a text packet, or "b" and a binary message's base64) waiting for the next
  // poll.
  std::vector<std::string> buffer_;
  std::size_t buffered_bytes_ = 0;
  bool probed_ = false;  // the upgrade's WebSocket sent 2probe: polls get a noop
  bool poll_pending_ = false;
  bool final_noop_ = false;
  bool overflowed_ = false;  // past max_buffered_bytes: nothing more is kept, the end is posted  // closed by the client's POST: the next poll still gets its noop
  bool post_running_ = false;
  bool awaiting_pong_ = false;
  bool closed_ = false;
};

// The polling sessions of a node, by sid. Threads: any (a mutex); lookups are one per request.
class EioRegistry {
 public:
  void add(const std::shared_ptr<EioSession>& session);
  std::shared_ptr<EioSession> find(const std::string& sid) const;
  void remove(const std::string& sid);
  // Ends every session, each on its home shard (the node drains: a pending poll gets the close
  // packet).
  void close_all(std::string_view reason);

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<EioSession>> sessions_;  // guarded by mutex_
};

// A WebSocket carrying an Engine.IO session: a new one (made on open, on the connection's
// shard) or one it upgrades (found by sid). Threads: the connection's shard; it hops to the
// session's when they differ.
class EioWsCarrier final : public net::WsListener {
 public:
  using Factory = std::function<std::shared_ptr<EioSession>(const EioSession::Home&)>;
  // A new session, made by `make` once the connection is open.
  explicit EioWsCarrier(Factory make) : make_(std::move(make)) {}
  // An upgrade of `session`.
  explicit EioWsCarrier(std::shared_ptr<EioSession> session) : session_(std::move(session)) {}

  void on_open(const std::shared_ptr<net::WsConnection>& conn) override;
  std::optional<boost::asio::awaitable<void>> on_text(std::string_view text) override;
  bool takes_binary() const override { return true; }
  std::optional<boost::asio::awaitable<void>> on_binary(std::string_view bytes) override;
  void on_close() override;

 private:
  std::optional<boost::asio::awaitable<void>> message(std::string_view data, bool binary);
  boost::asio::awaitable<void> message_on_home(std::string data, bool binary);
  bool same_shard() const;

  Factory make_;
  std::shared_ptr<EioSession> session_;
  std::shared_ptr<net::WsConnection> conn_;
};

}  // namespace parley::api::eio
