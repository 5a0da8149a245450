#pragma once
// WsConnection: one upgraded WebSocket, speaking RFC 6455 itself (net/ws_frame.hpp) over a
// non-blocking socket.
//
// Why not a Beast websocket::stream: an idle connection must cost little (issue 4 asks for
// ≤ 5 KB of user-space memory each) and a busy one few system calls. So there is no coroutine and
// no buffer while a connection is idle — only a pending readiness wait. Bytes are read into the
// shard's scratch buffer and parsed there; only an incomplete frame is kept per connection. All
// frames queued during one turn of the shard's loop go out in one writev (coalesced writes).
//
// Outbound frames wait in the bounded queue of OutboundConnection (net/outbound.hpp), shared with
// streamed HTTP responses: a frame refused by its slow-consumer rule closes the connection with
// close code 4008 ("slow consumer: resync"). Frames are shared and immutable, header included:
// one serialization serves every recipient.
//
// Keep-alive: check_idle(), called by the server's per-shard sweep, pings a connection silent
// for half the idle timeout and drops one silent for all of it.
//
// Threads: everything runs on the connection's shard; send()/close() only from that shard
// (others use OutboundConnection::post()). The WsListener is called on the shard, one message at a time.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_types.hpp"
#include "net/outbound.hpp"
#include "net/shards.hpp"
#include "net/ws_frame.hpp"

namespace parley::net {

class WsConnection;

// What the api layer implements for one WebSocket.
class WsListener {
 public:
  virtual ~WsListener() = default;
  virtual void on_open(const std::shared_ptr<WsConnection>& conn) = 0;
  // One complete text message; `text` is valid only during the call. Work that can finish now
  // is done now and nullopt returned; otherwise the returned coroutine is run, and the next
  // message is read only when it ends. That keeps one connection's requests in order and bounds
  // what a client can make the server hold.
  virtual std::optional<boost::asio::awaitable<void>> on_text(std::string_view text) = 0;
  // Whether the listener takes binary messages; if not, one closes the connection with
  // close_code::unsupported (what /ws does).
  virtual bool takes_binary() const { return false; }
  // One complete binary message, as on_text.
  virtual std::optional<boost::asio::awaitable<void>> on_binary(std::string_view) {
    return std::nullopt;
  }
  virtual void on_close() = 0;
};

// Per shard: the buffer every connection of the shard reads into (one read at a time on a
// shard, so one buffer serves them all).
struct ShardScratch {
  std::vector<char> read_buffer = std::vector<char>(64 * 1024);
};

class WsConnection final : public OutboundConnection {
 public:
  // `handshake` is the 101 response, written first; `early` holds bytes the client sent after
  // its upgrade request (already read by the HTTP parser). `on_finished` runs once, on the
  // shard, when the socket is done.
  WsConnection(boost::asio::ip::tcp::socket socket, std::shared_ptr<WsListener> listener,
               const ConnectionLimits& limits, ConnectionStats& stats, ShardScratch& scratch,
               Mailbox& mailbox, std::uint64_t id, std::size_t shard, std::string remote,
               std::function<void(OutboundConnection&)> on_finished,
               std::size_t max_message_bytes = 0);  // 0: limits.max_payload_bytes

  // Writes the handshake response, tells the listener, and starts reading.
  void start(std::string handshake, std::string_view early);

  // Queues a frame. Returns false when the connection is closing or the frame would pass the
  // outbound bound (the connection then closes with close_code::slow_consumer).
  bool send(Frame frame);
  bool send_text(std::string_view text) { return send(text_frame(text)); }
  // Closes after the frames already queued are written.
  void close(std::uint16_t code, std::string_view reason);
  // Close code 1001 after the frames already queued.
  void shut_down() override { close(close_code::going_away, "server shutting down"); }
  // Keep-alive, from the shard's sweep: ping after idle/2 of silence, drop after idle.
  void check_idle(std::chrono::steady_clock::time_point now) override;

  bool closing() const { return closing_; }

 private:
  std::shared_ptr<WsConnection> self() {
    return std::static_pointer_cast<WsConnection>(shared_from_this());
  }
  void read_available();
  void wait_readable();
  // Handles what the reader finds in `input`; false when reading must pause (a listener
  // coroutine runs, or the connection is done reading).
  bool dispatch(std::span<char>& input);
  void fail(std::uint16_t code, std::string_view reason);
  void abort_after(std::chrono::seconds grace);
  void on_drained() override;
  void on_finish(std::string_view why) override;

  std::shared_ptr<WsListener> listener_;
  ShardScratch& scratch_;
  FrameReader reader_;
  // Received bytes not yet parsed: an incomplete frame, or what arrived behind a message whose
  // handling suspended. Empty (no allocation) on an idle connection.
  std::string pending_;
  std::chrono::steady_clock::time_point last_heard_;

  bool reading_paused_ = false;   // a listener coroutine runs; the next message waits
  bool read_closed_ = false;      // nothing more is read (peer closed, or a protocol failure)
  bool closing_ = false;          // our close frame is queued: no more frames accepted
  bool close_sent_ = false;       // our close frame is on the wire
  bool peer_closed_ = false;      // the peer's close frame arrived
  bool peer_closed_first_ = false;  // ... before we sent ours (for the log)
  bool ping_sent_ = false;        // a keep-alive ping is unanswered
  std::uint16_t close_code_ = 0;  // what we sent, or else what the peer sent
};

}  // namespace parley::net
