#include "net/ws_connection.hpp"

#include <array>
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
// Frames per writev (Asio's limit for one scatter-gather call).
constexpr std::size_t kFramesPerWrite = 64;
}  // namespace

WsConnection::WsConnection(tcp::socket socket, std::shared_ptr<WsListener> listener,
                           const ConnectionLimits& limits, ConnectionStats& stats,
                           ShardScratch& scratch, Mailbox& mailbox, std::uint64_t id,
                           std::size_t shard, std::string remote,
                           std::function<void(WsConnection&)> on_finished)
    : socket_(std::move(socket)),
      listener_(std::move(listener)),
      limits_(limits),
      stats_(stats),
      scratch_(scratch),
      mailbox_(mailbox),
      id_(id),
      shard_(shard),
      remote_(std::move(remote)),
      on_finished_(std::move(on_finished)),
      reader_(limits.max_payload_bytes) {}

void WsConnection::start(std::string handshake, std::string_view early) {
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  last_heard_ = std::chrono::steady_clock::now();
  queue(std::make_shared<const OutFrame>(OutFrame::Kind::raw, handshake));
  flush();
  if (finished_) return;
  stats_.websockets_opened.fetch_add(1, std::memory_order_relaxed);
  listener_->on_open(shared_from_this());
  pending_.assign(early);
  read_available();
}

// ---- reading

void WsConnection::read_available() {
  if (finished_ || reading_paused_ || read_closed_) return;
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
      if (!finished_) pending_.assign(input.data(), input.size());
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
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->read_available(); });
}

void WsConnection::wait_readable() {
  // Only after a read came back empty (would_block) or short: Asio's epoll reactor re-arms the
  // descriptor for each wait, so bytes already waiting complete it at once.
  socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
    if (self->finished_) return;
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
      case WsEvent::Kind::text: {
        if (closing_) continue;  // after our close frame, data is read and dropped
        auto more = listener_->on_text(event.payload);
        if (more) {
          reading_paused_ = true;
          asio::co_spawn(socket_.get_executor(), std::move(*more),
                         [self = shared_from_this()](std::exception_ptr e) {
                           self->reading_paused_ = false;
                           if (e) {
                             note_unexpected_exception("ws_handler", e);
                             self->fail(close_code::internal_error, "internal error");
                           }
                           if (self->finished_) return self->listener_->on_close();
                           self->read_available();
                         });
          return false;
        }
        if (finished_ || read_closed_) return false;
        continue;
      }
      case WsEvent::Kind::binary:
        close(close_code::unsupported, "binary frames are not supported: send JSON text frames");
        continue;
      case WsEvent::Kind::ping:
        if (!closing_) {
          queue(std::make_shared<const OutFrame>(OutFrame::Kind::pong, event.payload));
          schedule_flush();
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
          schedule_flush();
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
  if (closing_ || finished_) return false;
  // The bound is on what piles up unread: a single large frame (a full history page) on an empty
  // queue always goes out, so memory stays under max_outbound_bytes plus one frame.
  if (queued_bytes_ > 0 && queued_bytes_ + frame->size() > limits_.max_outbound_bytes) {
    log::warn("event=slow_consumer conn={} queued_bytes={}", id_, queued_bytes_);
    stats_.slow_consumer_closes.fetch_add(1, std::memory_order_relaxed);
    close(close_code::slow_consumer, "slow consumer: reconnect and sync");
    return false;
  }
  queue(std::move(frame));
  schedule_flush();
  return true;
}

void WsConnection::queue(Frame frame) {
  queued_bytes_ += frame->size();
  queue_.push_back(std::move(frame));
}

void WsConnection::schedule_flush() {
  // Everything queued until the end of this turn of the shard's loop leaves in one writev.
  if (flush_scheduled_ || write_waiting_ || finished_) return;
  flush_scheduled_ = true;
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->flush_scheduled_ = false;
    self->flush();
  });
}

void WsConnection::flush() {
  if (finished_ || write_waiting_) return;
  while (queue_head_ < queue_.size()) {
    std::array<asio::const_buffer, kFramesPerWrite> buffers;
    std::size_t count = 0;
    for (std::size_t i = queue_head_; i < queue_.size() && count < buffers.size(); ++i) {
      auto bytes = queue_[i]->bytes();
      if (i == queue_head_) bytes.remove_prefix(head_offset_);
      buffers[count++] = asio::buffer(bytes);
    }
    boost::system::error_code ec;
    std::size_t written =
        socket_.write_some(std::span<const asio::const_buffer>(buffers.data(), count), ec);
    if (ec == asio::error::would_block) {
      write_waiting_ = true;
      socket_.async_wait(tcp::socket::wait_write, [self = shared_from_this()](boost::system::error_code wait_ec) {
        self->write_waiting_ = false;
        if (self->finished_) return;
        if (wait_ec) return self->finish(wait_ec.message());
        self->flush();
      });
      return;
    }
    if (ec) return finish(ec.message());
    while (written > 0) {
      const std::size_t left = queue_[queue_head_]->size() - head_offset_;
      if (written < left) {
        head_offset_ += written;
        break;
      }
      written -= left;
      queued_bytes_ -= queue_[queue_head_]->size();
      queue_[queue_head_++].reset();
      head_offset_ = 0;
    }
  }
  queue_.clear();
  queue_head_ = 0;
  if (queue_.capacity() > 64) queue_.shrink_to_fit();
  if (closing_ && !close_sent_) {  // the close frame is always the last one queued
    close_sent_ = true;
    if (read_closed_) finish("");
  }
}

// ---- closing

void WsConnection::close(std::uint16_t code, std::string_view reason) {
  if (closing_ || finished_) return;
  closing_ = true;
  close_code_ = code;
  // Frames not yet begun are not owed any more (the peer resyncs from its last seq); one already
  // half on the wire must be finished, or the close frame would land inside it.
  if (code == close_code::slow_consumer || code == close_code::protocol_error ||
      code == close_code::invalid_payload || code == close_code::too_big) {
    const std::size_t keep = queue_head_ + (head_offset_ > 0 ? 1 : 0);
    for (std::size_t i = keep; i < queue_.size(); ++i) queued_bytes_ -= queue_[i]->size();
    queue_.resize(keep);
  }
  queue(close_frame(code, reason));
  schedule_flush();
  abort_after(std::chrono::seconds(15));
}

void WsConnection::fail(std::uint16_t code, std::string_view reason) {
  log::info("event=ws_protocol_error conn={} code={} reason=\"{}\"", id_, code, reason);
  read_closed_ = true;  // nothing after a violation is trusted; hang up once the close is out
  close(code, reason);
}

void WsConnection::post(std::function<void()> fn) {
  mailbox_.post([self = shared_from_this(), fn = std::move(fn)] {
    if (!self->finished_) fn();
  });
}

void WsConnection::check_idle(std::chrono::steady_clock::time_point now) {
  if (finished_) return;
  const auto silent = now - last_heard_;
  if (silent >= limits_.idle_timeout) {
    auto self = shared_from_this();
    return finish("idle timeout");
  }
  const auto half = std::chrono::duration_cast<std::chrono::milliseconds>(limits_.idle_timeout) / 2;
  if (silent >= half && !ping_sent_ && !closing_) {
    ping_sent_ = true;
    queue(std::make_shared<const OutFrame>(OutFrame::Kind::ping, ""));
    schedule_flush();
  }
}

void WsConnection::abort_after(std::chrono::seconds grace) {
  // A peer that neither reads nor answers the close handshake must not hold the socket open.
  auto timer = std::make_shared<asio::steady_timer>(socket_.get_executor(), grace);
  timer->async_wait([self = shared_from_this(), timer](boost::system::error_code) {
    if (!self->finished_) self->finish("close handshake timed out");
  });
}

void WsConnection::finish(std::string_view why) {
  if (finished_) return;
  finished_ = true;
  boost::system::error_code ignored;
  socket_.close(ignored);  // cancels the pending waits; their handlers see finished_
  queue_.clear();
  queue_head_ = head_offset_ = queued_bytes_ = 0;
  pending_ = {};
  const bool by_server = closing_ && !peer_closed_first_;
  log::info("event=ws_close conn={} code={} by={} error=\"{}\"", id_,
            close_code_ ? close_code_ : 1006, by_server ? "server" : "peer", why);
  on_finished_(*this);
  // The listener hears of it when no handler of its is suspended (see the co_spawn above).
  if (!reading_paused_) listener_->on_close();
}

}  // namespace parley::net
