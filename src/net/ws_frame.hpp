#pragma once
// RFC 6455 framing, server side, without any I/O: the handshake's accept key, outbound frames
// (built once, shared by every recipient), and FrameReader, which turns the bytes a client sends
// into messages and control frames, or into the close code the protocol demands.
//
// Kept free of Asio so the unit tests and the fuzz target (fuzz/fuzz_ws_frame.cpp) exercise
// exactly the code that reads untrusted bytes. Not thread-safe: one FrameReader per connection.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace parley::net {

// Close codes Parley sends (docs/protocol.md, "Close codes").
namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;      // server shutting down
inline constexpr std::uint16_t protocol_error = 1002;  // a frame RFC 6455 forbids
inline constexpr std::uint16_t unsupported = 1003;     // a binary frame
inline constexpr std::uint16_t invalid_payload = 1007; // text that is not UTF-8
inline constexpr std::uint16_t too_big = 1009;         // message over max_payload_bytes
inline constexpr std::uint16_t internal_error = 1011;  // a handler failed unexpectedly
inline constexpr std::uint16_t unauthenticated = 4001; // no valid token in time
inline constexpr std::uint16_t slow_consumer = 4008;   // outbound queue over its bound: resync
}  // namespace close_code

// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key: base64(SHA-1(key + RFC GUID)).
std::string websocket_accept_key(std::string_view client_key);
// A Sec-WebSocket-Key is the base64 of 16 bytes: 24 characters ending in "==".
bool valid_websocket_key(std::string_view client_key);

// One outbound frame, header included. Server frames are never masked, so the bytes are the same
// for every recipient: an event is framed once and the same OutFrame is queued on every
// connection that receives it.
class OutFrame {
 public:
  enum class Kind : std::uint8_t {
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xA,
    raw = 0,
  };
  // `raw`: bytes written as they are (the 101 handshake response).
  OutFrame(Kind kind, std::string_view payload);
  // Takes the payload's buffer; the header goes in front of it without a copy when the string
  // has 10 bytes of spare capacity.
  OutFrame(Kind kind, std::string&& payload);
  OutFrame(Kind kind, const char* payload) : OutFrame(kind, std::string_view(payload)) {}

  std::string_view bytes() const { return bytes_; }
  std::string_view payload() const { return std::string_view(bytes_).substr(header_size_); }
  std::size_t size() const { return bytes_.size(); }

 private:
  std::string bytes_;
  std::uint8_t header_size_ = 0;
};
using Frame = std::shared_ptr<const OutFrame>;

Frame text_frame(std::string_view payload);
Frame text_frame(std::string&& payload);
inline Frame text_frame(const char* payload) { return text_frame(std::string_view(payload)); }
Frame binary_frame(std::string&& payload);
// A close frame: the code, then a reason cut to fit the 125-byte control frame limit.
Frame close_frame(std::uint16_t code, std::string_view reason);

// What FrameReader::next found.
struct WsEvent {
  enum class Kind {
    need_more,  // the bytes end inside a frame: call again with more
    text,       // a complete text message (fragments joined, UTF-8 checked)
    binary,     // a complete binary message
    ping,
    pong,
    close,      // the peer's close frame; `code` is its status (1005 when it gave none)
    fail,       // a protocol violation: close with `code` and stop reading
  };
  Kind kind = Kind::need_more;
  std::string_view payload;  // valid until the next call of next(); for fail: the reason
  std::uint16_t code = 0;
};

class FrameReader {
 public:
  explicit FrameReader(std::size_t max_message_bytes) : max_message_(max_message_bytes) {}

  // Reads the next event from the front of `input` and drops the bytes it used from it. Unmasks
  // payloads in place (hence mutable bytes). A frame that is not all there is left in `input`
  // untouched (need_more), for the caller to keep and offer again with what follows.
  WsEvent next(std::span<char>& input);

 private:
  WsEvent fail(std::uint16_t code, std::string_view reason);
  WsEvent finish_message(bool text, std::string_view payload);

  const std::size_t max_message_;
  std::string message_;      // fragments of the message being assembled
  bool in_message_ = false;  // a fragmented message has begun
  bool message_text_ = false;
  bool failed_ = false;
};

}  // namespace parley::net
