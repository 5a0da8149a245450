#include "net/outbound.hpp"

#include <array>
#include <boost/asio/post.hpp>
#include <span>

#include "core/logging.hpp"

namespace parley::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
// Buffers per writev (Asio's limit for one scatter-gather call).
constexpr std::size_t kBuffersPerWrite = 64;
}  // namespace

OutBytes::OutBytes(std::string&& text) {
  auto owned = std::make_shared<const std::string>(std::move(text));
  bytes = *owned;
  owner = std::move(owned);
}

OutboundConnection::OutboundConnection(tcp::socket socket, const ConnectionLimits& limits,
                                       ConnectionStats& stats, Mailbox& mailbox,
                                       std::uint64_t id, std::size_t shard, std::string remote,
                                       std::function<void(OutboundConnection&)> on_finished)
    : socket_(std::move(socket)),
      limits_(limits),
      stats_(stats),
      mailbox_(mailbox),
      id_(id),
      shard_(shard),
      remote_(std::move(remote)),
      on_finished_(std::move(on_finished)) {}

bool OutboundConnection::admit(std::size_t bytes) {
  // The bound is on what piles up unread: a single large write (a full history page) on an empty
  // queue always goes out, so memory stays under max_outbound_bytes plus one write.
  if (queued_bytes_ == 0 || queued_bytes_ + bytes <= limits_.max_outbound_bytes) return true;
  log::warn("event=slow_consumer conn={} queued_bytes={}", id_, queued_bytes_);
  stats_.slow_consumer_closes.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void OutboundConnection::queue(OutBytes bytes) {
  if (finished_) return;
  queued_bytes_ += bytes.bytes.size();
  queue_.push_back(std::move(bytes));
  schedule_flush();
}

void OutboundConnection::drop_unstarted() {
  const std::size_t keep = head_ + (head_offset_ > 0 ? 1 : 0);
  for (std::size_t i = keep; i < queue_.size(); ++i) queued_bytes_ -= queue_[i].bytes.size();
  queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(std::min(keep, queue_.size())),
               queue_.end());
}

void OutboundConnection::schedule_flush() {
  // Everything queued until the end of this turn of the shard's loop leaves in one writev.
  if (flush_scheduled_ || write_waiting_ || finished_) return;
  flush_scheduled_ = true;
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->flush_scheduled_ = false;
    self->flush();
  });
}

void OutboundConnection::flush() {
  if (finished_ || write_waiting_) return;
  while (head_ < queue_.size()) {
    std::array<asio::const_buffer, kBuffersPerWrite> buffers;
    std::size_t count = 0;
    for (std::size_t i = head_; i < queue_.size() && count < buffers.size(); ++i) {
      auto bytes = queue_[i].bytes;
      if (i == head_) bytes.remove_prefix(head_offset_);
      buffers[count++] = asio::buffer(bytes);
    }
    boost::system::error_code ec;
    std::size_t written =
        socket_.write_some(std::span<const asio::const_buffer>(buffers.data(), count), ec);
    if (ec == asio::error::would_block) {
      write_waiting_ = true;
      socket_.async_wait(tcp::socket::wait_write,
                         [self = shared_from_this()](boost::system::error_code wait_ec) {
                           self->write_waiting_ = false;
                           if (self->finished_) return;
                           if (wait_ec) return self->finish(wait_ec.message());
                           self->flush();
                         });
      return;
    }
    if (ec) return finish(ec.message());
    while (written > 0) {
      const std::size_t left = queue_[head_].bytes.size() - head_offset_;
      if (written < left) {
        head_offset_ += written;
        break;
      }
      written -= left;
      queued_bytes_ -= queue_[head_].bytes.size();
      queue_[head_++].owner.reset();
      head_offset_ = 0;
    }
  }
  queue_.clear();
  head_ = 0;
  if (queue_.capacity() > 64) queue_.shrink_to_fit();
  on_drained();
}

void OutboundConnection::post(std::function<void()> fn) {
  mailbox_.post([self = shared_from_this(), fn = std::move(fn)] {
    if (!self->finished_) fn();
  });
}

void OutboundConnection::finish(std::string_view why) {
  if (finished_) return;
  finished_ = true;
  auto self = shared_from_this();  // on_finished may drop the server's reference
  boost::system::error_code ignored;
  socket_.close(ignored);  // cancels the pending waits; their handlers see finished_
  queue_.clear();
  head_ = head_offset_ = queued_bytes_ = 0;
  on_finished_(*this);
  on_finish(why);
}

}  // namespace parley::net
