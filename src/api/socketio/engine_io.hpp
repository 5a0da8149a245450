#pragma once
// Engine.IO v4 packets (https://socket.io/docs/v4/engine-io-protocol/): the framing under
// Socket.IO, on its two transports. Pure functions; any thread. The session that uses them
// (HTTP long-polling, WebSocket, the upgrade between them) is EioSession (eio_session.hpp).
//
//   packet        <type digit><data>: 0 open, 1 close, 2 ping, 3 pong, 4 message, 5 upgrade,
//                 6 noop. On WebSocket one packet per frame, and a binary frame is a binary
//                 message (no type digit).
//   payload       long-polling's body: packets joined by \x1e (a record separator, which no
//                 packet contains: text is JSON, binary is base64), a binary message as "b"
//                 and its base64.
//   open packet   0{"sid","upgrades","pingInterval","pingTimeout","maxPayload"}
//   errors        the reference server's answers to a request it refuses: a code, a message
//                 and an HTTP status (HandshakeError).

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace parley::api::eio {

enum class PacketType : char {
  open = '0',
  close = '1',
  ping = '2',
  pong = '3',
  message = '4',
  upgrade = '5',
  noop = '6',
};

struct Packet {
  PacketType type = PacketType::message;
  std::string data;     // text, or the bytes of a binary message
  bool binary = false;  // a binary message (type is message)

  bool operator==(const Packet&) const = default;
};

// A text WebSocket frame (or one payload record) as a packet; nullopt if it is not one (an
// empty frame, or an unknown type digit).
std::optional<Packet> decode_text(std::string_view frame);
// A packet as a text frame: its type digit and data. Not for binary messages (they are sent as
// binary frames of their bytes).
std::string encode_text(const Packet& packet);

// A long-polling body as packets; nullopt if any record is malformed (the session then closes:
// "parse error"), or the body is empty.
std::optional<std::vector<Packet>> decode_payload(std::string_view body);
std::string encode_payload(std::span<const Packet> packets);

struct OpenOptions {
  std::string sid;
  bool can_upgrade = false;  // on long-polling: "upgrades":["websocket"]; else []
  int ping_interval_ms = 25000;
  int ping_timeout_ms = 20000;
  std::size_t max_payload = 1000000;
};
// The open packet's text (with its type digit).
std::string open_packet(const OpenOptions& options);

// A refused Engine.IO request, as the reference server answers it: status and JSON body
// {"code": code, "message": message}.
struct HandshakeError {
  int code;
  std::string_view message;
  int status;
};
inline constexpr HandshakeError kUnknownTransport{0, "Transport unknown", 400};
inline constexpr HandshakeError kUnknownSid{1, "Session ID unknown", 400};
inline constexpr HandshakeError kBadHandshakeMethod{2, "Bad handshake method", 400};
inline constexpr HandshakeError kBadRequest{3, "Bad request", 400};
inline constexpr HandshakeError kForbidden{4, "Forbidden", 403};
inline constexpr HandshakeError kUnsupportedProtocolVersion{5, "Unsupported protocol version", 400};
std::string error_body(const HandshakeError& error);

}  // namespace parley::api::eio
