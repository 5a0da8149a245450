#pragma once
// WsConnection: one accepted WebSocket, with one reader coroutine and one writer coroutine.
//
// Outbound frames wait in a queue bounded in bytes (ConnectionLimits::max_outbound_bytes). A
// frame that would take a non-empty queue past the bound means the peer reads too slowly: the
// connection is closed with close code 4008 ("slow consumer: resync"), never allowed to grow the
// heap (DESIGN.md §2.6). A single frame larger than the bound still goes out on an empty queue.
// Frames are shared, immutable strings: one serialization serves every recipient.
//
// Threads: everything runs on the connection's shard; send()/close() only from that shard
// (others use post()). The WsListener is called on the shard, one text frame at a time.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_types.hpp"

namespace parley::net {

class WsConnection;

// Close codes Parley sends (docs/protocol.md, "Close codes").
namespace close_code {
inline constexpr std::uint16_t going_away = 1001;      // server shutting down
inline constexpr std::uint16_t unsupported = 1003;     // a binary frame
inline constexpr std::uint16_t too_big = 1009;         // frame over max_payload_bytes
inline constexpr std::uint16_t unauthenticated = 4001; // no valid token in time
inline constexpr std::uint16_t slow_consumer = 4008;   // outbound queue over its bound: resync
}  // namespace close_code

// What the api layer implements for one WebSocket.
class WsListener {
 public:
  virtual ~WsListener() = default;
  virtual void on_open(const std::shared_ptr<WsConnection>& conn) = 0;
  // One complete text frame. The next frame is read only when this returns, which keeps one
  // connection's requests in order and bounds what a client can make the server hold.
  virtual boost::asio::awaitable<void> on_text(std::string_view text) = 0;
  virtual void on_close() = 0;
};

using Frame = std::shared_ptr<const std::string>;

class WsConnection : public std::enable_shared_from_this<WsConnection> {
 public:
  WsConnection(boost::beast::tcp_stream stream, std::shared_ptr<WsListener> listener,
               const ConnectionLimits& limits, ConnectionStats& stats, std::uint64_t id,
               std::size_t shard, std::string remote);

  // Accepts the upgrade, then reads until the peer or the server closes. The request is dropped
  // once the handshake is done.
  boost::asio::awaitable<void> run(boost::beast::http::request<boost::beast::http::string_body> req);

  // Queues a text frame. Returns false when the connection is closing or the frame would pass
  // the outbound bound (the connection then closes with close_code::slow_consumer).
  bool send(Frame frame);
  bool send(std::string text) { return send(std::make_shared<const std::string>(std::move(text))); }
  // Closes after the frames already queued are written.
  void close(std::uint16_t code, std::string reason);
  // Runs fn on this connection's shard (from any thread); fn is dropped if the connection is gone.
  void post(std::function<void(WsConnection&)> fn);

  boost::asio::any_io_executor executor() { return ws_.get_executor(); }
  std::uint64_t id() const { return id_; }
  std::size_t shard() const { return shard_; }
  const std::string& remote() const { return remote_; }
  bool closing() const { return closing_; }
  std::size_t queued_bytes() const { return queued_bytes_; }

 private:
  boost::asio::awaitable<void> write_loop();
  void abort_after(std::chrono::seconds grace);

  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  std::shared_ptr<WsListener> listener_;
  const ConnectionLimits& limits_;
  ConnectionStats& stats_;
  const std::uint64_t id_;
  const std::size_t shard_;
  const std::string remote_;

  boost::asio::steady_timer wake_writer_;
  // Frames not yet written: [queue_head_, end). A vector, not a deque: an empty one allocates
  // nothing (libstdc++'s deque allocates ~600 bytes up front), which matters per idle connection.
  std::vector<Frame> queue_;
  std::size_t queue_head_ = 0;
  std::size_t queued_bytes_ = 0;
  bool closing_ = false;   // no more frames accepted; the writer closes after the queue
  bool finished_ = false;  // the reader has stopped; the socket is done
  std::uint16_t close_code_ = 1000;
  std::string close_reason_;
};

}  // namespace parley::net
