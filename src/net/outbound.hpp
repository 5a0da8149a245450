#pragma once
// OutboundConnection: a socket the server writes to whenever it has something to say — a
// WebSocket (net/ws_connection.hpp) or a streamed HTTP response (net/http_stream.hpp). It owns
// what both need and what must be the same for both:
//
// - the outbound queue, bounded in bytes (ConnectionLimits::max_outbound_bytes), and the
//   slow-consumer rule: a write that would take a non-empty queue past the bound means the peer
//   reads too slowly, and the connection is closed instead of growing the heap (invariant 6,
//   docs/architecture.md). A single write larger than the bound still goes out on an empty
//   queue;
// - coalesced writes: everything queued during one turn of the shard's loop leaves in one
//   writev, from a non-blocking socket, with no coroutine and no buffer while idle;
// - post(): running work on the connection's shard from any thread, through the shard's mailbox.
//
// Queued bytes are shared, never copied: an event rendered once is queued on every connection
// that receives it (OutBytes keeps its owner alive until written).
//
// Threads: everything on the connection's shard; post() from anywhere.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_types.hpp"
#include "net/shards.hpp"
#include "net/ws_frame.hpp"

namespace parley::net {

// Bytes to write and what keeps them alive.
struct OutBytes {
  OutBytes(std::shared_ptr<const void> keep, std::string_view text)
      : owner(std::move(keep)), bytes(text) {}
  OutBytes(const Frame& frame) : owner(frame), bytes(frame->bytes()) {}  // NOLINT: a frame is bytes
  explicit OutBytes(std::string&& text);  // owns a copy-free heap string
  std::shared_ptr<const void> owner;
  std::string_view bytes;
};

class OutboundConnection : public std::enable_shared_from_this<OutboundConnection> {
 public:
  virtual ~OutboundConnection() = default;

  // Runs fn on this connection's shard (from any thread); dropped if the connection is gone by
  // then.
  void post(std::function<void()> fn);
  // Server shutdown, step one: say goodbye after what is queued (WebSocket: close 1001).
  virtual void shut_down() = 0;
  // Closes the socket now.
  void abort(std::string_view why) { finish(why); }
  // Keep-alive, from the shard's sweep (WebSocket pings); nothing by default.
  virtual void check_idle(std::chrono::steady_clock::time_point) {}

  boost::asio::any_io_executor executor() { return socket_.get_executor(); }
  std::uint64_t id() const { return id_; }
  std::size_t shard() const { return shard_; }
  Mailbox& mailbox() const { return mailbox_; }
  const std::string& remote() const { return remote_; }
  std::size_t queued_bytes() const { return queued_bytes_; }
  bool finished() const { return finished_; }

 protected:
  // `on_finished` runs once, on the shard, when the socket is closed.
  OutboundConnection(boost::asio::ip::tcp::socket socket, const ConnectionLimits& limits,
                     ConnectionStats& stats, Mailbox& mailbox, std::uint64_t id,
                     std::size_t shard, std::string remote,
                     std::function<void(OutboundConnection&)> on_finished);

  // The slow-consumer rule: whether `bytes` more may be queued. When not, the refusal is logged
  // (event=slow_consumer) and counted; the caller closes the connection its own way.
  bool admit(std::size_t bytes);
  // Queues without the bound (control frames, response heads) and flushes at the end of the turn.
  void queue(OutBytes bytes);
  // Drops what is queued but not yet begun on the wire (a half-written item must be finished).
  void drop_unstarted();
  void schedule_flush();
  void flush();
  // Closes the socket, drops the queue, runs on_finished; then the derived class's on_finish.
  void finish(std::string_view why);

  // The queue ran empty after a flush.
  virtual void on_drained() {}
  // finish() ran (once); `why` is empty for an orderly close.
  virtual void on_finish(std::string_view why) = 0;

  boost::asio::ip::tcp::socket socket_;
  const ConnectionLimits& limits_;
  ConnectionStats& stats_;

 private:
  Mailbox& mailbox_;
  const std::uint64_t id_;
  const std::size_t shard_;
  const std::string remote_;
  std::function<void(OutboundConnection&)> on_finished_;

  // Not yet written: [head_, end); the head one from byte head_offset_. A vector, not a deque:
  // an empty one allocates nothing.
  std::vector<OutBytes> queue_;
  std::size_t head_ = 0;
  std::size_t head_offset_ = 0;
  std::size_t queued_bytes_ = 0;
  bool flush_scheduled_ = false;  // a flush is posted for the end of this turn
  bool write_waiting_ = false;    // the socket is full; waiting until it is writable
  bool finished_ = false;         // the socket is closed
};

}  // namespace parley::net
