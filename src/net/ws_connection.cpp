#include "net/ws_connection.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include "core/logging.hpp"

namespace parley::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace http = beast::http;
using asio::redirect_error;
using asio::use_awaitable;

WsConnection::WsConnection(beast::tcp_stream stream, std::shared_ptr<WsListener> listener,
                           const ConnectionLimits& limits, ConnectionStats& stats,
                           std::uint64_t id, std::size_t shard, std::string remote)
    : ws_(std::move(stream)),
      listener_(std::move(listener)),
      limits_(limits),
      stats_(stats),
      id_(id),
      shard_(shard),
      remote_(std::move(remote)),
      wake_writer_(ws_.get_executor()) {}

asio::awaitable<void> WsConnection::run(http::request<http::string_body> req) {
  auto self = shared_from_this();
  websocket::stream_base::timeout timeouts;
  timeouts.handshake_timeout = std::chrono::seconds(10);  // also bounds the closing handshake
  timeouts.idle_timeout = limits_.idle_timeout;           // silence → ping; no pong → close
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "parley"); }));
  ws_.read_message_max(limits_.max_payload_bytes);  // larger → close 1009
  ws_.text(true);

  boost::system::error_code ec;
  co_await ws_.async_accept(req, redirect_error(use_awaitable, ec));
  req = {};  // its headers are not needed any more; this frame lives as long as the connection
  if (ec) {
    log::info("event=ws_handshake_failed conn={} error=\"{}\"", id_, ec.message());
    co_return;
  }
  asio::co_spawn(ws_.get_executor(), [self] { return self->write_loop(); }, asio::detached);
  stats_.websockets_opened.fetch_add(1, std::memory_order_relaxed);
  listener_->on_open(self);

  beast::flat_buffer buffer;
  for (;;) {
    co_await ws_.async_read(buffer, redirect_error(use_awaitable, ec));
    if (ec) break;
    if (!ws_.got_text()) {
      close(close_code::unsupported, "binary frames are not supported: send JSON text frames");
    } else if (!closing_) {
      const auto data = buffer.cdata();
      co_await listener_->on_text({static_cast<const char*>(data.data()), data.size()});
    }
    buffer.consume(buffer.size());
    if (buffer.capacity() > 8192) buffer.shrink_to_fit();  // one large message is not a habit
  }
  // Beast has already answered protocol violations with their close code (1002 protocol error,
  // 1007 invalid UTF-8 in a text frame, 1009 too big) before failing the read.
  finished_ = true;
  queue_.clear();
  queue_head_ = 0;
  queued_bytes_ = 0;
  wake_writer_.cancel();
  // The code we sent when we closed first, else the peer's.
  const unsigned code = closing_ ? close_code_ : static_cast<unsigned>(ws_.reason().code);
  log::info("event=ws_close conn={} code={} by={} error=\"{}\"", id_, code,
            closing_ ? "server" : "peer", ec == websocket::error::closed ? "" : ec.message());
  listener_->on_close();
}

bool WsConnection::send(Frame frame) {
  if (closing_ || finished_) return false;
  // The bound is on what piles up unread: a single large frame (a full history page) on an empty
  // queue always goes out, so memory stays under max_outbound_bytes plus one frame.
  if (queued_bytes_ > 0 && queued_bytes_ + frame->size() > limits_.max_outbound_bytes) {
    log::warn("event=slow_consumer conn={} queued_bytes={}", id_, queued_bytes_);
    stats_.slow_consumer_closes.fetch_add(1, std::memory_order_relaxed);
    queue_.clear();  // the peer resyncs from its last seq; these frames are not owed any more
    queue_head_ = 0;
    queued_bytes_ = 0;
    close(close_code::slow_consumer, "slow consumer: reconnect and sync");
    return false;
  }
  queued_bytes_ += frame->size();
  const bool was_empty = queue_head_ == queue_.size();
  queue_.push_back(std::move(frame));
  if (was_empty) wake_writer_.cancel();
  return true;
}

void WsConnection::close(std::uint16_t code, std::string reason) {
  if (closing_ || finished_) return;
  closing_ = true;
  close_code_ = code;
  close_reason_ = std::move(reason);
  wake_writer_.cancel();
  abort_after(std::chrono::seconds(15));
}

void WsConnection::post(std::function<void(WsConnection&)> fn) {
  asio::post(ws_.get_executor(), [self = shared_from_this(), fn = std::move(fn)] {
    if (!self->finished_) fn(*self);
  });
}

void WsConnection::abort_after(std::chrono::seconds grace) {
  // A peer that neither reads nor answers the close handshake must not hold the socket open: the
  // writer may be stuck on a full TCP window, where Beast's own timeouts cannot reach it.
  auto timer = std::make_shared<asio::steady_timer>(ws_.get_executor(), grace);
  timer->async_wait([self = shared_from_this(), timer](boost::system::error_code) {
    if (!self->finished_) beast::get_lowest_layer(self->ws_).close();
  });
}

asio::awaitable<void> WsConnection::write_loop() {
  boost::system::error_code ec;
  while (!finished_) {
    if (queue_head_ == queue_.size()) {
      queue_.clear();
      queue_head_ = 0;
      if (queue_.capacity() > 64) queue_.shrink_to_fit();
      if (closing_) {
        co_await ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(close_code_),
                                                          close_reason_),
                                 redirect_error(use_awaitable, ec));
        break;
      }
      wake_writer_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_writer_.async_wait(redirect_error(use_awaitable, ec));
      continue;
    }
    Frame frame = std::move(queue_[queue_head_++]);
    co_await ws_.async_write(asio::buffer(*frame), redirect_error(use_awaitable, ec));
    queued_bytes_ -= std::min(queued_bytes_, frame->size());
    if (ec) break;
  }
}

}  // namespace parley::net
