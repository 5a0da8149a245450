#include "net/ws_connection.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <exception>

#include "core/failures.hpp"
#include "core/logging.hpp"

namespace parley::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
// Reads per wake before yielding to the shard's other connections.
constexpr int kReadsPerTurn = 4;
}  // namespace

WsConnection::WsConnection(tcp::socket socket, std::shared_ptr<WsListener> listener,
                           const ConnectionLimits& limits, ConnectionStats& stats,
                           ShardScratch& scratch, Mailbox& mailbox, std::uint64_t id,
                           std::size_t shard, std::string remote,
                           std::function<void(OutboundConnection&)> on_finished,
                           std::size_t max_message_bytes)
    : OutboundConnection(std::move(socket), limits, stats, mailbox, id, shard, std::move(remote),
                         std::move(on_finished)),
      listener_(std::move(listener)),
      scratch_(scratch),
      reader_(max_message_bytes ? max_message_bytes : limits.max_payload_bytes) {}

void WsConnection::start(std::string handshake, std::string_view early) {
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  last_heard_ = std::chrono::steady_clock::now();
  queue(std::make_shared<const OutFrame>(OutFrame::Kind::raw, handshake));
  flush();
  if (finished()) return;
  stats_.websockets_opened.fetch_add(1, std::memory_order_relaxed);
  listener_->on_open(self());
  pending_.assign(early);
  read_available();
}

// ---- reading

void WsConnection::read_available() {
  if (finished() || reading_paused_ || read_closed_) return;
  if (!pending_.empty()) {  // what arrived behind a message whose handling suspended
    std::span<char> input(pending_.data(), pending_.size());
    const bool go_on = dispatch(input);
    pending_.erase(0, pending_.size() - input.size());
    if (!go_on) return;
  }
  auto& buffer = scratch_.read_buffer;
  for (int round = 0; round < kReadsPerTurn; ++round) {
    boost::system::error_code ec;
    const std::size_t n = socket_.read_some(asio::buffer(buffer), ec);
    if (ec == asio::error::would_block) return wait_readable();
    if (ec) return finish(ec == asio::error::eof ? "" : ec.message());
    last_heard_ = std::chrono::steady_clock::now();
    ping_sent_ = false;
    bool go_on;
    if (pending_.empty()) {  // the usual case: whole frames, parsed where they were read
      std::span<char> input(buffer.data(), n);
      go_on = dispatch(input);
      if (!finished()) pending_.assign(input.data(), input.size());
    } else {  // the rest of a frame begun earlier
      pending_.append(buffer.data(), n);
      std::span<char> input(pending_.data(), pending_.size());
      go_on = dispatch(input);
      pending_.erase(0, pending_.size() - input.size());
    }
    if (pending_.empty() && pending_.capacity() > 4096) pending_ = {};  // a big frame was rare
    if (!go_on) return;
    // A short read took everything the socket held: wait for the next arrival instead of
    // asking again only to hear would_block (one system call less per message). Safe because
    // every async_wait re-arms the socket in epoll (EPOLL_CTL_MOD), which reports bytes that
    // arrived in between at once.
    if (n < buffer.size()) return wait_readable();
  }
  // Still more to read: let the shard's other connections have a turn first.
  asio::post(socket_.get_executor(), [self = self()] { self->read_available(); });
}

void WsConnection::wait_readable() {
  // Only after a read came back empty (would_block) or short: Asio's epoll reactor re-arms the
  // descriptor for each wait, so bytes already waiting complete it at once.
  socket_.async_wait(tcp::socket::wait_read, [self = self()](boost::system::error_code ec) {
    if (self->finished()) return;
    if (ec) return self->finish(ec.message());
    self->read_available();
  });
}

bool WsConnection::dispatch(std::span<char>& input) {
  for (;;) {
    const WsEvent event = reader_.next(input);
    switch (event.kind) {
      case WsEvent::Kind::need_more:
        return true;
      case WsEvent::Kind::text:
      case WsEvent::Kind::binary: {
        if (closing_) continue;  // after our close frame, data is read and dropped
        const bool text = event.kind == WsEvent::Kind::text;
        if (!text && !listener_->takes_binary()) {
          close(close_code::unsupported, "binary frames are not supported: send JSON text frames");
          if (finished() || read_closed_) return false;
          continue;
        }
        auto more = text ? listener_->on_text(event.payload) : listener_->on_binary(event.payload);
        if (more) {
          reading_paused_ = true;
          asio::co_spawn(socket_.get_executor(), std::move(*more),
                         [self = self()](std::exception_ptr e) {
                           self->reading_paused_ = false;
                           if (e) {
                             note_unexpected_exception("ws_handler", e);
                             self->fail(close_code::internal_error, "internal error");
                           }
                           if (self->finished()) return self->listener_->on_close();
                           self->read_available();
                         });
          return false;
        }
        if (finished() || read_closed_) return false;
        continue;
      }
      case WsEvent::Kind::ping:
        if (!closing_) {
          queue(std::make_shared<const OutFrame>(OutFrame::Kind::pong, event.payload));
        }
        continue;
      case WsEvent::Kind::pong:
        continue;  // any bytes count as life (last_heard_)
      case WsEvent::Kind::close:
        peer_closed_ = true;
        read_closed_ = true;
        if (!closing_) {  // the peer closes first: answer with its code, then hang up
          peer_closed_first_ = true;
          closing_ = true;
          close_code_ = event.code == 1005 ? close_code::normal : event.code;
          queue(close_frame(close_code_, ""));
          abort_after(std::chrono::seconds(5));
        } else if (close_sent_) {
          finish("");
        }
        return false;
      case WsEvent::Kind::fail:
        fail(event.code, event.payload);
        return false;
    }
  }
}

// ---- writing

bool WsConnection::send(Frame frame) {
  if (closing_ || finished()) return false;
  if (!admit(frame->size())) {
    close(close_code::slow_consumer, "slow consumer: reconnect and sync");
    return false;
  }
  queue(std::move(frame));
  return true;
}

void WsConnection::on_drained() {
  if (closing_ && !close_sent_) {  // the close frame is always the last one queued
    close_sent_ = true;
    if (read_closed_) finish("");
  }
}

// ---- closing

void WsConnection::close(std::uint16_t code, std::string_view reason) {
  if (closing_ || finished()) return;
  closing_ = true;
  close_code_ = code;
  // Frames not yet begun are not owed any more (the peer resyncs from its last seq); one already
  // half on the wire must be finished, or the close frame would land inside it.
  if (code == close_code::slow_consumer || code == close_code::protocol_error ||
      code == close_code::invalid_payload || code == close_code::too_big) {
    drop_unstarted();
  }
  queue(close_frame(code, reason));
  abort_after(std::chrono::seconds(15));
}

void WsConnection::fail(std::uint16_t code, std::string_view reason) {
  log::info("event=ws_protocol_error conn={} code={} reason=\"{}\"", id(), code, reason);
  read_closed_ = true;  // nothing after a violation is trusted; hang up once the close is out
  close(code, reason);
}

void WsConnection::check_idle(std::chrono::steady_clock::time_point now) {
  if (finished()) return;
  const auto silent = now - last_heard_;
  if (silent >= limits_.idle_timeout) {
    return finish("idle timeout");
  }
  const auto half = std::chrono::duration_cast<std::chrono::milliseconds>(limits_.idle_timeout) / 2;
  if (silent >= half && !ping_sent_ && !closing_) {
    ping_sent_ = true;
    queue(std::make_shared<const OutFrame>(OutFrame::Kind::ping, ""));
  }
}

void WsConnection::abort_after(std::chrono::seconds grace) {
  // A peer that neither reads nor answers the close handshake must not hold the socket open.
  auto timer = std::make_shared<asio::steady_timer>(socket_.get_executor(), grace);
  timer->async_wait([self = self(), timer](boost::system::error_code) {
    if (!self->finished()) self->finish("close handshake timed out");
  });
}

void WsConnection::on_finish(std::string_view why) {
  pending_ = {};
  const bool by_server = closing_ && !peer_closed_first_;
  log::info("event=ws_close conn={} code={} by={} error=\"{}\"", id(),
            close_code_ ? close_code_ : 1006, by_server ? "server" : "peer", why);
  // The listener hears of it when no handler of its is suspended (see the co_spawn above).
  if (!reading_paused_) listener_->on_close();
}

}  // namespace parley::net
