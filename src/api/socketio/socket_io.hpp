#pragma once
// Socket.IO v5 packets (https://socket.io/docs/v4/socket-io-protocol/), each carried in one
// Engine.IO message (api/socketio/engine_io.hpp). Pure functions; any thread.
//
//   <type digit>[<attachments>-][<namespace>,][<ack id>][<JSON>]
//
//   0 CONNECT        client: 0[/nsp,][{auth}]           server: 0[/nsp,]{"sid":"…"}
//   1 DISCONNECT     1[/nsp,]
//   2 EVENT          2[/nsp,][id]["name", args…]
//   3 ACK            3[/nsp,]id[args…]
//   4 CONNECT_ERROR  4[/nsp,]{"message":"…"}
//   5 BINARY_EVENT   5N-[/nsp,][id]["name", {"_placeholder":true,"num":0}…], then N binary messages
//   6 BINARY_ACK     6N-[/nsp,]id[…], the same
//
// The namespace is written only when it is not "/", and always with its comma. Decoding follows
// the reference parser (socket.io-parser 4.2): a namespace runs to a comma or the end; an ack id
// is a run of digits; the rest must be JSON of the shape the type requires; anything else is an
// error, on which the server closes the whole connection.

#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace parley::api::sio {

enum class PacketType : char {
  connect = '0',
  disconnect = '1',
  event = '2',
  ack = '3',
  connect_error = '4',
  binary_event = '5',
  binary_ack = '6',
};

struct Packet {
  PacketType type = PacketType::event;
  std::string nsp = "/";
  std::optional<std::int64_t> id;  // an EVENT's ack id, an ACK's id
  boost::json::value data;         // null when the packet has none
  // BINARY_EVENT / BINARY_ACK: how many binary messages follow (decode), and once they have
  // arrived, their bytes, in order (the JSON keeps its placeholders).
  std::size_t attachments = 0;
  std::vector<std::string> buffers;
};

// At most this many attachments to one packet (the reference's default).
inline constexpr std::size_t kMaxAttachments = 10;

// Errc::bad_request with the reason ("unknown packet type", "invalid payload", …).
Result<Packet> decode(std::string_view text);
// The packet's text (the Engine.IO message's data); its buffers go in binary messages after it.
std::string encode(const Packet& packet);

// The event names a client may not emit (the reference's reserved names).
bool is_reserved_event(std::string_view name);

// Gathers a binary packet's attachments as they arrive. Threads: one session's.
class BinaryAssembler {
 public:
  // A binary packet whose attachments are still to come; replaces any unfinished one.
  void begin(Packet packet);
  bool waiting() const { return pending_.has_value(); }
  // One binary message: the packet once its last attachment is in, else nullopt.
  // Errc::bad_request for a binary message with no packet waiting for it, or when a
  // placeholder's num is out of range.
  Result<std::optional<Packet>> add(std::string bytes);

 private:
  std::optional<Packet> pending_;
};

}  // namespace parley::api::sio
