#include "net/http_stream.hpp"

#include <array>
#include <cstdio>

#include "core/logging.hpp"

namespace parley::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
// Shared by every chunk of every stream.
const auto kChunkEnd = std::make_shared<const std::string>("\r\n");
const auto kLastChunk = std::make_shared<const std::string>("0\r\n\r\n");
}  // namespace

HttpStream::HttpStream(tcp::socket socket, std::shared_ptr<HttpStreamListener> listener,
                       const ConnectionLimits& limits, ConnectionStats& stats, Mailbox& mailbox,
                       std::uint64_t id, std::size_t shard, std::string remote,
                       std::function<void(OutboundConnection&)> on_finished)
    : OutboundConnection(std::move(socket), limits, stats, mailbox, id, shard, std::move(remote),
                         std::move(on_finished)),
      listener_(std::move(listener)) {}

void HttpStream::start(std::string head) {
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  queue(OutBytes(std::move(head)));
  if (finished()) return;
  listener_->on_open(self());
  watch();
}

bool HttpStream::write(std::initializer_list<OutBytes> parts) {
  if (ending_ || finished()) return false;
  std::size_t size = 0;
  for (const auto& part : parts) size += part.bytes.size();
  if (size == 0) return true;  // a zero-length chunk would end the response
  if (!admit(size)) {
    // What is queued is not owed any more: the client resumes from the last id it read.
    drop_unstarted();
    end();
    return false;
  }
  char header[24];
  const int n = std::snprintf(header, sizeof header, "%zx\r\n", size);
  queue(OutBytes(std::string(header, static_cast<std::size_t>(n))));
  for (const auto& part : parts) queue(part);
  queue(OutBytes(kChunkEnd, *kChunkEnd));
  return true;
}

void HttpStream::end() {
  if (ending_ || finished()) return;
  ending_ = true;
  queue(OutBytes(kLastChunk, *kLastChunk));
}

void HttpStream::on_drained() {
  if (!ending_) return;
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  finish("");
}

void HttpStream::watch() {
  // A streamed response is the connection's last (Connection: close): whatever the peer sends
  // now is dropped, and its end is the stream's.
  socket_.async_wait(tcp::socket::wait_read, [self = self()](boost::system::error_code ec) {
    if (self->finished()) return;
    if (ec) return self->finish(ec.message());
    std::array<char, 512> discard;
    boost::system::error_code read_ec;
    const std::size_t n = self->socket_.read_some(asio::buffer(discard), read_ec);
    if (read_ec == asio::error::would_block) return self->watch();
    if (read_ec || n == 0) return self->finish(read_ec == asio::error::eof ? "" : read_ec.message());
    self->watch();
  });
}

void HttpStream::on_finish(std::string_view why) {
  log::info("event=stream_close conn={} by={} error=\"{}\"", id(), ending_ ? "server" : "peer",
            why);
  listener_->on_close();
}

}  // namespace parley::net
