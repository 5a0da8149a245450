#pragma once
// HttpStream: an HTTP response that stays open and is written many times (server-sent events,
// and any route that streams). The server writes the head (the status line and headers, with
// `Transfer-Encoding: chunked` and `Connection: close`), then hands the socket to the stream,
// which lives on without a coroutine, like a WebSocket: each write() is one chunk, queued under
// the bounded outbound queue and slow-consumer rule of OutboundConnection (net/outbound.hpp). A
// write refused by that rule ends the response at once (the client reconnects and resumes).
//
// The stream also watches the socket: the peer closing it (or anything it sends, since a
// streamed response is the connection's last) ends the stream, so a gone client is noticed
// without waiting for the next write.
//
// Threads: everything on the connection's shard; others use post(). The listener is called on
// the shard.

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "net/outbound.hpp"

namespace parley::net {

class HttpStream;

// What the api layer implements for one streamed response.
class HttpStreamListener {
 public:
  virtual ~HttpStreamListener() = default;
  // The head is queued: write() may be called from now on.
  virtual void on_open(const std::shared_ptr<HttpStream>& stream) = 0;
  // The stream ended (end(), the peer left, a slow consumer, or the server stopped).
  virtual void on_close() = 0;
};

class HttpStream final : public OutboundConnection {
 public:
  HttpStream(boost::asio::ip::tcp::socket socket, std::shared_ptr<HttpStreamListener> listener,
             const ConnectionLimits& limits, ConnectionStats& stats, Mailbox& mailbox,
             std::uint64_t id, std::size_t shard, std::string remote,
             std::function<void(OutboundConnection&)> on_finished);

  // Writes `head` (a complete response head, ending in a blank line) and starts watching.
  void start(std::string head);
  // One chunk, made of these parts in order (shared, not copied). False when the stream is
  // ending, or the chunk would pass the outbound bound (the stream then ends).
  bool write(std::initializer_list<OutBytes> parts);
  // Ends the response after what is queued (the last chunk), then closes the connection.
  void end();
  void shut_down() override { end(); }

 private:
  std::shared_ptr<HttpStream> self() {
    return std::static_pointer_cast<HttpStream>(shared_from_this());
  }
  void watch();
  void on_drained() override;
  void on_finish(std::string_view why) override;

  std::shared_ptr<HttpStreamListener> listener_;
  bool ending_ = false;  // the last chunk is queued: nothing more is written
};

}  // namespace parley::net
