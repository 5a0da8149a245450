#pragma once
// SioConnection: Socket.IO v5 over one Engine.IO session (api/socketio/eio_session.hpp). It
// decodes the client's packets (api/socketio/socket_io.hpp), gathers binary attachments, and
// routes each packet to the namespace it names. Which namespaces exist and what a joined one
// does is the server's (SioNamespaces): Parley's chat on "/" (api/socketio/socketio_routes.cpp),
// or the protocol-test echo.
//
// The published protocol's rules live here: CONNECT to an unknown namespace gets CONNECT_ERROR
// {"message":"Invalid namespace"}; a connection that joins no namespace within the connect
// timeout closes; DISCONNECT leaves one namespace and the Engine.IO session stays; a malformed
// packet, or an event for a namespace not joined, closes the whole connection.
//
// Ownership: the EioSession owns its SioConnection (its handler), which owns the sockets of its
// namespaces. A socket's pointer back to the connection is valid until its on_leave().
// Threads: the session's home shard.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api/socketio/eio_session.hpp"
#include "api/socketio/socket_io.hpp"

namespace parley::api::sio {

class SioConnection;

// One namespace a client joined (or is joining) on a connection.
class NamespaceSocket {
 public:
  virtual ~NamespaceSocket() = default;
  // An EVENT or BINARY_EVENT for the namespace (attachments in packet.buffers), once joined. As
  // net::WsListener::on_text: a returned coroutine runs before the connection's next packet.
  virtual std::optional<boost::asio::awaitable<void>> on_event(Packet& packet) = 0;
  // The namespace is left: the client's DISCONNECT, the server's leave(), or the connection
  // closed. The socket must not use its connection after this.
  virtual void on_leave(std::string_view reason) = 0;
};

// The namespaces a server offers.
class SioNamespaces {
 public:
  virtual ~SioNamespaces() = default;
  // A CONNECT to `nsp` with `auth` (the CONNECT payload: an object, or null). Returns the socket,
  // which answers through conn.accept() or conn.refuse() (now or later); null: no such
  // namespace.
  virtual std::shared_ptr<NamespaceSocket> connect(SioConnection& conn, const std::string& nsp,
                                                   const boost::json::value& auth) = 0;
};

class SioConnection final : public eio::EioHandler {
 public:
  SioConnection(eio::EioSession& session, SioNamespaces& namespaces,
                std::chrono::milliseconds connect_timeout);

  // ---- for namespace sockets
  // The CONNECT is accepted: 0[nsp,]{"sid":…}; events may flow.
  void accept(const std::string& nsp);
  // The CONNECT is refused: 4[nsp,]{"message":…}; the socket is dropped (no on_leave).
  void refuse(const std::string& nsp, std::string_view message);
  // The server leaves the namespace: 1[nsp,], then the socket's on_leave.
  void leave(const std::string& nsp, std::string_view reason);
  // A packet, its attachments as binary messages after it.
  void send(const Packet& packet);
  // A packet already framed ("4" and the Socket.IO packet, as a WebSocket text frame).
  void send_frame(const net::Frame& frame) {
    if (session_) session_->send_frame(frame);
  }
  // Until the connection closes (then on_leave has run for every socket).
  eio::EioSession& session() { return *session_; }

  // ---- eio::EioHandler
  void on_open() override;
  std::optional<boost::asio::awaitable<void>> on_message(std::string_view text) override;
  std::optional<boost::asio::awaitable<void>> on_binary(std::string bytes) override;
  void on_close(std::string_view reason) override;

 private:
  struct Joined {
    std::shared_ptr<NamespaceSocket> socket;
    bool accepted = false;
  };
  std::optional<boost::asio::awaitable<void>> dispatch(Packet& packet);
  std::optional<boost::asio::awaitable<void>> fail(std::string_view why);

  eio::EioSession* session_;  // null once closed
  SioNamespaces& namespaces_;
  std::chrono::milliseconds connect_timeout_;
  std::unique_ptr<boost::asio::steady_timer> connect_timer_;
  std::map<std::string, Joined> namespaces_joined_;
  BinaryAssembler attachments_;
};

}  // namespace parley::api::sio
