#pragma once
// HttpServer: accepts TCP connections on one listening socket, pins each to a shard, and serves
// HTTP/1.1 on it (keep-alive, limits from ConnectionLimits). Each request goes to the route the
// Router picks from its method and path, read with that route's body limit; an upgrade to
// WebSocket goes to the route's WsUpgradeHandler, which accepts it with a WsListener or rejects
// it with a response; a streamed route (Router::stream) writes its head and hands the socket to
// an HttpStream. A handler that throws answers 500 (code "internal"), is logged and counted
// (core/failures.hpp), and the connection keeps serving.
//
// Threads: the acceptor runs on shard 0; each connection on its own shard; handlers are called
// on the connection's shard.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "net/http_stream.hpp"
#include "net/http_types.hpp"
#include "net/router.hpp"
#include "net/shards.hpp"
#include "net/ws_connection.hpp"

namespace parley::net {

class HttpServer {
 public:
  // `router` must outlive the server.
  HttpServer(ShardPool& shards, ConnectionLimits limits, const Router& router);
  ~HttpServer();

  // Binds and listens (port 0: any free port). Throws std::system_error when it cannot bind.
  // Returns the bound address as HOST:PORT.
  std::string listen(const std::string& host, std::uint16_t port);
  // Starts accepting (after ShardPool::start, or before: work is queued).
  void start();
  // Graceful stop, step one: no new connections; HTTP connections idle between requests close
  // now, busy ones after their response; every WebSocket gets close code 1001 after the frames
  // already queued for it. Thread-safe.
  void shut_down();
  // Graceful stop, step two (after the drain deadline): closes every connection still open, on
  // its shard, and returns when all are closed. The shards must still be running.
  void close_remaining();

  std::uint64_t open_connections() const { return open_connections_.load(); }
  const ConnectionStats& stats() const { return stats_; }

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket, std::size_t shard,
                                     std::uint64_t id);
  // Hands an accepted upgrade to a WsConnection, which lives on without any coroutine: the
  // HTTP session that upgraded it (parser, buffers, request) ends here.
  void start_websocket(boost::asio::ip::tcp::socket socket, std::shared_ptr<WsListener> listener,
                       std::string handshake, std::string_view early, std::size_t shard,
                       std::uint64_t id, std::string remote,
                       std::chrono::steady_clock::time_point opened, std::size_t max_message_bytes);
  // Hands a begun streamed response to an HttpStream, which lives on without any coroutine.
  void start_stream(boost::asio::ip::tcp::socket socket, std::shared_ptr<HttpStreamListener> listener,
                    std::string head, std::size_t shard, std::uint64_t id, std::string remote,
                    std::chrono::steady_clock::time_point opened);
  // The server's record of a WebSocket or stream: counted open until on_finished.
  std::function<void(OutboundConnection&)> track(std::chrono::steady_clock::time_point opened,
                                                 bool websocket);
  // Per shard, every idle_timeout/4: WebSocket keep-alive (WsConnection::check_idle).
  boost::asio::awaitable<void> keepalive_loop(std::size_t shard);

  ShardPool& shards_;
  const ConnectionLimits limits_;
  const Router& router_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<std::uint64_t> next_id_{1};
  std::atomic<std::uint64_t> open_connections_{0};
  std::atomic<bool> draining_{false};
  ConnectionStats stats_;
  // Per shard, the HTTP connections now waiting for their next request (touched on that shard).
  std::vector<std::unordered_set<boost::beast::tcp_stream*>> idle_;
  // Per shard, the open WebSockets and streamed responses (touched on that shard).
  std::vector<std::unordered_set<OutboundConnection*>> outbound_;
  // Per shard, the read buffer its WebSockets share, and the keep-alive timer.
  std::vector<std::unique_ptr<ShardScratch>> scratch_;
  std::vector<std::unique_ptr<boost::asio::steady_timer>> keepalive_timers_;
};

}  // namespace parley::net
