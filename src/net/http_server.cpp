#include "net/http_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <optional>
#include <chrono>
#include <latch>

#include <boost/json.hpp>

#include "core/failures.hpp"
#include "core/logging.hpp"
#include "core/utf8.hpp"
#include "net/request_body.hpp"
#include "net/response_body.hpp"

namespace parley::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using asio::redirect_error;
using asio::use_awaitable;

namespace {

// X-Forwarded-For, every line of it joined in order (a proxy may add a line of its own), and at
// most its last kMaxForwardedFor bytes from an entry's start: the entries trusted proxies append
// are on the right, so a client padding the header on the left cannot push them out.
std::string forwarded_for(const http::request_header<>& req) {
  constexpr std::size_t kMaxForwardedFor = 1024;
  std::string joined;
  for (auto [it, end] = req.equal_range("X-Forwarded-For"); it != end; ++it) {
    if (!joined.empty()) joined += ", ";
    joined.append(it->value().data(), it->value().size());
  }
  if (joined.size() > kMaxForwardedFor) {
    const auto cut = joined.find(',', joined.size() - kMaxForwardedFor);
    joined.erase(0, cut == std::string::npos ? joined.size() : cut + 1);
  }
  return joined;
}

HttpRequest to_request(const http::request_header<>& req, const std::string& remote,
                       std::uint64_t id, std::size_t shard) {
  HttpRequest r;
  r.method = std::string(req.method_string());
  const std::string_view target = req.target();
  const auto q = target.find('?');
  r.path = std::string(target.substr(0, q));
  if (q != target.npos) r.query = std::string(target.substr(q + 1));
  r.authorization = std::string(req[http::field::authorization]);
  r.origin = std::string(req[http::field::origin]);
  r.host = std::string(req[http::field::host]);
  r.content_type = std::string(req[http::field::content_type]);
  r.user_agent = std::string(truncate_utf8(req[http::field::user_agent], 200));
  r.cookie = std::string(req[http::field::cookie].substr(0, 8192));
  r.last_event_id = std::string(req["Last-Event-ID"]);
  r.forwarded_for = forwarded_for(req);
  r.range = std::string(req[http::field::range]);
  r.if_none_match = std::string(req[http::field::if_none_match]);
  r.accept_encoding = std::string(req[http::field::accept_encoding].substr(0, 256));
  r.remote = remote;
  r.conn_id = id;
  r.shard = shard;
  return r;
}

http::response<http::string_body> to_beast(HttpResponse&& r, unsigned version, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "parley");
  if (!r.content_type.empty()) res.set(http::field::content_type, r.content_type);
  res.set(http::field::cache_control, "no-store");
  for (auto& [name, value] : r.headers) {
    // A line break in a value would end the header and start another (response splitting):
    // such a header is a bug upstream, and is dropped rather than sent.
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      log::warn("event=header_dropped name={} reason=line_break", name);
      continue;
    }
    res.set(name, value);
  }
  res.body() = std::move(r.body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

// The same body as api::error_body (docs/protocol.md, "Errors"), for the answers the network
// layer gives itself.
HttpResponse error_response(int status, std::string_view code, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = boost::json::serialize(boost::json::object{
      {"error", boost::json::object{{"code", code}, {"message", message}}}});
  if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

// Why a request could not be read, as the client is told: status, error code, message.
struct ReadError {
  int status;
  std::string_view code;
  std::string message;
};

ReadError too_large(std::uint64_t limit) {
  return {413, "too_large", "request body is over the limit of " + std::to_string(limit) + " bytes"};
}

// Bad input gets a clear error: 413 past the body limit, 431 past the header limit, 400 for
// anything that is not HTTP/1.1, 408 for a client that stalled. None for a client that is gone.
// `body_limit`: 0 while reading a header (a timeout then is keep-alive's normal end).
std::optional<ReadError> classify_read_error(boost::system::error_code ec,
                                             std::uint64_t body_limit = 0) {
  if (ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
      ec == asio::error::eof || ec == asio::error::operation_aborted ||
      ec == http::error::partial_message || ec == asio::error::broken_pipe) {
    return std::nullopt;
  }
  if (ec == beast::error::timeout) {
    if (body_limit == 0) return std::nullopt;
    return ReadError{408, "timeout", "the request body stopped arriving"};
  }
  if (ec == http::error::body_limit) return too_large(body_limit);
  if (ec == http::error::header_limit) {
    return ReadError{431, "too_large", "request headers are over the limit"};
  }
  return ReadError{400, "bad_request", "malformed HTTP request"};
}

HttpResponse error_response(const ReadError& e) { return error_response(e.status, e.code, e.message); }

std::optional<HttpResponse> read_error_response(boost::system::error_code ec,
                                                std::uint64_t body_limit = 0) {
  if (auto e = classify_read_error(ec, body_limit)) return error_response(*e);
  return std::nullopt;
}

// Answers a request the connection cannot go on from (its input is lost) and lets it close.
asio::awaitable<void> answer_and_close(beast::tcp_stream& stream, std::uint64_t id,
                                       HttpResponse r) {
  log::info("event=http conn={} status={} error=\"{}\"", id, r.status,
            r.body.size() < 200 ? r.body : r.body.substr(0, 200));
  auto res = to_beast(std::move(r), 11, false);
  stream.expires_after(std::chrono::seconds(10));
  boost::system::error_code ec;
  co_await http::async_write(stream, res, redirect_error(use_awaitable, ec));
}

// Writes res's head with Content-Length: body.size(), then the body as body yields it, 1 MiB at
// a time, each write under the idle timeout. False when the connection cannot go on: the client
// went away, or the body failed or came up short after the head was out.
asio::awaitable<bool> write_streamed_body(beast::tcp_stream& stream,
                                          http::response<http::string_body>& res,
                                          ResponseBody& body) {
  const std::uint64_t size = body.size();
  res.content_length(size);
  boost::system::error_code ec;
  http::response_serializer<http::string_body> head(res);
  co_await http::async_write_header(stream, head, redirect_error(use_awaitable, ec));
  if (ec) co_return false;
  std::vector<char> piece(1024 * 1024);
  std::uint64_t sent = 0;
  while (sent < size) {
    std::size_t n = 0;
    try {
      n = co_await body.read_some(std::span<char>(piece.data(), std::min<std::uint64_t>(piece.size(), size - sent)));
    } catch (...) {
      note_unexpected_exception("response_body", std::current_exception());
      co_return false;
    }
    if (n == 0) {
      log::warn("event=response_body_short sent={} size={}", sent, size);
      co_return false;
    }
    stream.expires_after(std::chrono::seconds(60));
    co_await asio::async_write(stream, asio::buffer(piece.data(), n), redirect_error(use_awaitable, ec));
    if (ec) co_return false;
    sent += n;
  }
  co_return true;
}

// A lingering close (RFC 9112 §9.6): closing a socket with unread input sends a reset, which can
// reach a client still sending its body before it has read our answer (a 413, say), and it then
// sees "connection reset" instead. So after the answer, with our side shut, read and drop what
// still comes, for a bounded time and amount, until the client closes.
asio::awaitable<void> discard_input(beast::tcp_stream& stream) {
  static constexpr auto kLinger = std::chrono::seconds(2);
  static constexpr std::size_t kMaxDiscard = 64 << 20;
  std::vector<char> sink(64 * 1024);
  std::size_t dropped = 0;
  stream.expires_after(kLinger);
  boost::system::error_code ec;
  while (!ec && dropped < kMaxDiscard) {
    dropped += co_await stream.async_read_some(asio::buffer(sink), redirect_error(use_awaitable, ec));
  }
}

// RFC 9110 §10.1.1: a client that sent "Expect: 100-continue" waits for this before its body.
asio::awaitable<void> write_continue(beast::tcp_stream& stream, boost::system::error_code& ec) {
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  co_await asio::async_write(stream, asio::buffer(kContinue), redirect_error(use_awaitable, ec));
}

// The body of a stream_body route, read into the handler's buffer as it arrives
// (net/request_body.hpp). Lives in serve()'s frame for one request.
class StreamedBody final : public RequestBody {
 public:
  StreamedBody(beast::tcp_stream& stream, beast::flat_buffer& buffer,
               http::request_parser<http::buffer_body>& parser, std::chrono::seconds idle_timeout,
               std::uint64_t limit, bool expects_continue)
      : stream_(stream), buffer_(buffer), parser_(parser), idle_timeout_(idle_timeout),
        limit_(limit), expects_continue_(expects_continue) {}

  asio::awaitable<std::size_t> read_some(std::span<char> into) override {
    if (failure_) throw *failure_;
    if (parser_.is_done() || into.empty()) co_return 0;
    boost::system::error_code ec;
    if (expects_continue_) {  // asked for only once the handler wants the body
      expects_continue_ = false;
      co_await write_continue(stream_, ec);
    }
    auto& body = parser_.get().body();
    std::size_t got = 0;
    // Until some body bytes arrive: a read may end on a chunk header alone. The idle timeout
    // is per read, so a slow client may take as long as it keeps sending.
    while (!ec && got == 0 && !parser_.is_done()) {
      body.data = into.data();
      body.size = into.size();
      stream_.expires_after(idle_timeout_);
      co_await http::async_read_some(stream_, buffer_, parser_, redirect_error(use_awaitable, ec));
      stream_.expires_never();
      if (ec == http::error::need_buffer) ec = {};
      got = into.size() - body.size;
    }
    if (ec) {
      // Status 0: the client is gone, and gets no answer.
      const auto e = classify_read_error(ec, limit_);
      failure_.emplace(e ? e->status : 0, std::string(e ? e->code : "gone"),
                       e ? e->message : "request body: " + ec.message());
      throw *failure_;
    }
    read_ += got;
    co_return got;
  }
  std::optional<std::uint64_t> declared_length() const override {
    const auto n = parser_.content_length();
    return n ? std::optional<std::uint64_t>(*n) : std::nullopt;
  }
  std::uint64_t bytes_read() const override { return read_; }
  std::uint64_t limit() const override { return limit_; }

  bool complete() const { return parser_.is_done(); }
  const std::optional<RequestBodyError>& failure() const { return failure_; }

 private:
  beast::tcp_stream& stream_;
  beast::flat_buffer& buffer_;
  http::request_parser<http::buffer_body>& parser_;
  const std::chrono::seconds idle_timeout_;
  const std::uint64_t limit_;
  bool expects_continue_;
  std::uint64_t read_ = 0;
  std::optional<RequestBodyError> failure_;
};

// The head of a streamed response: chunked, and the connection's last (a stream ends only when
// the connection does).
std::string stream_head(const StreamStart& start) {
  std::string head = "HTTP/1.1 " + std::to_string(start.status) + " " +
                     std::string(http::obsolete_reason(static_cast<http::status>(start.status))) +
                     "\r\nServer: parley\r\nContent-Type: " + start.content_type +
                     "\r\nCache-Control: no-store\r\nTransfer-Encoding: chunked\r\n"
                     "Connection: close\r\n";
  for (const auto& [name, value] : start.headers) head += name + ": " + value + "\r\n";
  head += "\r\n";
  return head;
}

// Counts a connection as open for as long as it lives, however its coroutine ends.
class OpenConnection {
 public:
  explicit OpenConnection(std::atomic<std::uint64_t>& count) : count_(&count) { ++*count_; }
  OpenConnection(const OpenConnection&) = delete;
  OpenConnection& operator=(const OpenConnection&) = delete;
  ~OpenConnection() {
    if (count_) --*count_;
  }
  // The count passes to whoever took over the socket (an upgraded WebSocket).
  void release() { count_ = nullptr; }

 private:
  std::atomic<std::uint64_t>* count_;
};

}  // namespace

HttpServer::HttpServer(ShardPool& shards, ConnectionLimits limits, const Router& router)
    : shards_(shards),
      limits_(limits),
      router_(router),
      acceptor_(shards.context(0)),
      idle_(shards.size()),
      outbound_(shards.size()) {
  for (std::size_t shard = 0; shard < shards.size(); ++shard) {
    scratch_.push_back(std::make_unique<ShardScratch>());
    keepalive_timers_.push_back(std::make_unique<asio::steady_timer>(shards.context(shard)));
  }
}

HttpServer::~HttpServer() = default;

std::string HttpServer::listen(const std::string& host, std::uint16_t port) {
  const tcp::endpoint endpoint(asio::ip::make_address(host), port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  const auto bound = acceptor_.local_endpoint();
  const auto addr = bound.address().to_string();
  return (bound.address().is_v6() ? "[" + addr + "]" : addr) + ":" + std::to_string(bound.port());
}

void HttpServer::start() {
  asio::co_spawn(acceptor_.get_executor(), accept_loop(), log_failure("accept_loop"));
  for (std::size_t shard = 0; shard < shards_.size(); ++shard) {
    asio::co_spawn(shards_.context(shard), keepalive_loop(shard), log_failure("keepalive_loop"));
  }
}

void HttpServer::shut_down() {
  draining_ = true;
  asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  });
  for (std::size_t shard = 0; shard < shards_.size(); ++shard) {
    asio::post(shards_.context(shard), [this, shard] {
      keepalive_timers_[shard]->cancel();  // the shard may finish once its connections do
      for (auto* stream : idle_[shard]) stream->cancel();
      for (auto* conn : outbound_[shard]) conn->shut_down();
    });
  }
}

void HttpServer::close_remaining() {
  std::latch done(static_cast<std::ptrdiff_t>(shards_.size()));
  for (std::size_t shard = 0; shard < shards_.size(); ++shard) {
    asio::post(shards_.context(shard), [this, shard, &done] {
      for (auto* stream : idle_[shard]) stream->socket().close();
      // A snapshot: abort() leaves the set.
      const std::vector<OutboundConnection*> open(outbound_[shard].begin(), outbound_[shard].end());
      for (auto* conn : open) conn->abort("server stopped");
      done.count_down();
    });
  }
  done.wait();
}

asio::awaitable<void> HttpServer::accept_loop() {
  for (;;) {
    const auto shard = shards_.pick();
    boost::system::error_code ec;
    // The socket is created on its shard's io_context: it lives there for good.
    tcp::socket socket = co_await acceptor_.async_accept(shards_.context(shard),
                                                         redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      // EMFILE and friends: log, breathe, carry on — one failed accept must not stop the server.
      log::warn("event=accept_failed error=\"{}\"", ec.message());
      asio::steady_timer pause(acceptor_.get_executor(), std::chrono::milliseconds(50));
      co_await pause.async_wait(redirect_error(use_awaitable, ec));
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    const auto id = next_id_.fetch_add(1);
    stats_.accepted.fetch_add(1, std::memory_order_relaxed);
    auto executor = socket.get_executor();
    asio::co_spawn(executor, serve(std::move(socket), shard, id), log_failure("http_connection"));
  }
}

asio::awaitable<void> HttpServer::serve(tcp::socket socket, std::size_t shard, std::uint64_t id) {
  OpenConnection counted(open_connections_);
  const auto opened = std::chrono::steady_clock::now();
  std::string remote;
  {
    boost::system::error_code ec;
    const auto ep = socket.remote_endpoint(ec);
    if (!ec) remote = ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  std::uint64_t requests = 0;
  bool unread_body = false;  // the connection ends with the client (perhaps) still sending

  for (;;) {
    // The header first, with no body limit: the route it names sets the limit, and Beast checks
    // a declared Content-Length only once, when the header ends (so the check is ours, below).
    http::request_parser<http::empty_body> head;
    head.body_limit(boost::none);
    head.header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
    stream.expires_after(limits_.idle_timeout);
    boost::system::error_code ec;
    if (draining_) break;
    idle_[shard].insert(&stream);
    co_await http::async_read_header(stream, buffer, head, redirect_error(use_awaitable, ec));
    idle_[shard].erase(&stream);
    const auto started = std::chrono::steady_clock::now();
    if (ec) {
      if (auto r = read_error_response(ec)) co_await answer_and_close(stream, id, std::move(*r));
      break;
    }
    ++requests;
    stream.expires_never();  // handling may take as long as it takes; writing gets a deadline
    const auto& header = head.get();
    const bool upgrade_asked = beast::websocket::is_upgrade(header);
    const std::string_view target = header.target();
    Router::Match route = router_.match(header.method_string(), target.substr(0, target.find('?')),
                                        upgrade_asked);
    const std::uint64_t body_limit = route.route && route.route->options.max_body_bytes
                                         ? route.route->options.max_body_bytes
                                         : limits_.max_payload_bytes;
    if (head.content_length() && *head.content_length() > body_limit) {
      co_await answer_and_close(stream, id, error_response(too_large(body_limit)));
      unread_body = true;
      break;
    }
    HttpRequest request = to_request(header, remote, id, shard);
    request.mailbox = &shards_.mailbox(shard);
    request.params = std::move(route.params);
    const unsigned version = header.version();
    bool keep_alive = header.keep_alive();
    const bool expects_continue = beast::iequals(header[http::field::expect], "100-continue");
    const auto key = std::string(header[http::field::sec_websocket_key]);
    const bool key_version_13 = header[http::field::sec_websocket_version] == "13";

    // The body: read whole here, or handed to the handler to read as it arrives.
    std::optional<http::request_parser<http::buffer_body>> streamed_parser;
    std::optional<StreamedBody> streamed;
    if (route.route && route.route->options.stream_body && !upgrade_asked) {
      streamed_parser.emplace(std::move(head));
      streamed_parser->body_limit(body_limit);
      streamed.emplace(stream, buffer, *streamed_parser, limits_.idle_timeout, body_limit,
                       expects_continue);
      request.body_stream = &*streamed;
    } else {
      http::request_parser<http::string_body> parser(std::move(head));
      parser.body_limit(body_limit);
      if (!parser.is_done()) {
        if (expects_continue) co_await write_continue(stream, ec);
        if (!ec) {
          stream.expires_after(limits_.idle_timeout);
          co_await http::async_read(stream, buffer, parser, redirect_error(use_awaitable, ec));
          stream.expires_never();
        }
        if (ec) {
          if (auto r = read_error_response(ec, body_limit)) {
            co_await answer_and_close(stream, id, std::move(*r));
            unread_body = true;
          }
          break;
        }
      }
      request.body = std::move(parser.get().body());
    }

    if (upgrade_asked) {
      // RFC 6455 §4.2.1: version 13 and a well-formed key, or no upgrade.
      std::optional<HttpResponse> reject;
      if (!route.route) {
        reject = error_response(404, "not_found", "no such route");
      } else if (!key_version_13) {
        reject = error_response(426, "bad_request", "Sec-WebSocket-Version must be 13");
        reject->headers.emplace_back("Sec-WebSocket-Version", "13");
      } else if (!valid_websocket_key(key)) {
        reject = error_response(400, "bad_request", "missing or malformed Sec-WebSocket-Key");
      }
      WsUpgrade upgrade =
          reject ? WsUpgrade{std::move(reject), nullptr} : route.route->upgrade(request);
      if (!upgrade.reject) {
        log::info("event=http conn={} method=GET path={} status=101", id, request.path);
        std::string handshake =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Server: parley\r\nSec-WebSocket-Accept: " +
            websocket_accept_key(key) + "\r\n\r\n";
        // Bytes the client sent right behind its request belong to the WebSocket.
        const auto rest = buffer.cdata();
        counted.release();  // the WsConnection owns the socket, and its count, from here
        start_websocket(stream.release_socket(), std::move(upgrade.listener), std::move(handshake),
                        {static_cast<const char*>(rest.data()), rest.size()}, shard, id,
                        std::move(remote), opened, upgrade.max_message_bytes);
        co_return;
      }
      auto res = to_beast(std::move(*upgrade.reject), version, false);
      log::info("event=http conn={} method={} path={} status={}", id, request.method,
                request.path, res.result_int());
      co_await http::async_write(stream, res, redirect_error(use_awaitable, ec));
      break;
    }

    HttpResponse response;
    if (!request.path.starts_with('/')) {
      response = error_response(400, "bad_request", "request target must be an absolute path");
    } else if (!route.route) {
      response = route.allowed.empty()
                     ? error_response(404, "not_found", "no such route")
                     : error_response(405, "bad_request", "method not allowed; use " + route.allowed);
      if (!route.allowed.empty()) response.headers.emplace_back("Allow", route.allowed);
    } else if (route.route->stream) {
      std::optional<StreamStart> start;
      try {
        start = route.route->stream(request);
      } catch (...) {
        note_unexpected_exception("http_stream", std::current_exception());
      }
      if (start && !start->reject) {
        log::info("event=http conn={} method={} path={} status={} stream=true", id,
                  request.method, request.path, start->status);
        stats_.http_requests[std::min(5, start->status / 100)].fetch_add(1, std::memory_order_relaxed);
        counted.release();  // the HttpStream owns the socket, and its count, from here
        start_stream(stream.release_socket(), std::move(start->listener), stream_head(*start),
                     shard, id, std::move(remote), opened);
        co_return;
      }
      response = start ? std::move(*start->reject) : error_response(500, "internal", "internal error");
    } else {
      // A throw is a bug, but it must cost one request, not the connection and its count.
      std::exception_ptr failure;
      try {
        response = co_await route.route->handler(request);
      } catch (const RequestBodyError&) {
        // Answered below, from what the body remembers.
      } catch (...) {
        failure = std::current_exception();
      }
      if (failure) {
        note_unexpected_exception("http_handler", failure);
        response = error_response(500, "internal", "internal error");
      }
    }
    if (streamed) {
      // A body that failed is answered for, whatever the handler returned; one left unread
      // closes the connection after the response (its rest would be taken for the next request).
      if (const auto& failed = streamed->failure()) {
        if (failed->status() == 0) break;  // the client is gone
        response = error_response(failed->status(), failed->code(), failed->what());
        keep_alive = false;
        unread_body = true;
      } else if (!streamed->complete()) {
        keep_alive = false;
        unread_body = true;
      }
    }
    keep_alive = keep_alive && !draining_;
    auto body_stream = std::move(response.body_stream);
    auto res = to_beast(std::move(response), version, keep_alive);
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - started)
                            .count();
    log::info("event=http conn={} method={} path={} status={} us={}", id, request.method,
              request.path, res.result_int(), micros);
    stats_.http_requests[std::min(5u, res.result_int() / 100)].fetch_add(1, std::memory_order_relaxed);
    stream.expires_after(limits_.idle_timeout);
    if (body_stream) {
      if (!co_await write_streamed_body(stream, res, *body_stream)) break;
    } else {
      co_await http::async_write(stream, res, redirect_error(use_awaitable, ec));
    }
    if (ec || !keep_alive) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  if (unread_body) co_await discard_input(stream);
  const auto lived = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - opened)
                         .count();
  log::info("event=conn_close conn={} remote={} requests={} websocket=false ms={}", id, remote,
            requests, lived);
}

std::function<void(OutboundConnection&)> HttpServer::track(
    std::chrono::steady_clock::time_point opened, bool websocket) {
  return [this, opened, websocket](OutboundConnection& c) {
    outbound_[c.shard()].erase(&c);
    const auto lived = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - opened)
                           .count();
    log::info("event=conn_close conn={} remote={} requests=1 {}=true ms={}", c.id(), c.remote(),
              websocket ? "websocket" : "stream", lived);
    --open_connections_;
  };
}

void HttpServer::start_websocket(tcp::socket socket, std::shared_ptr<WsListener> listener,
                                 std::string handshake, std::string_view early, std::size_t shard,
                                 std::uint64_t id, std::string remote,
                                 std::chrono::steady_clock::time_point opened,
                                 std::size_t max_message_bytes) {
  auto conn = std::make_shared<WsConnection>(std::move(socket), std::move(listener), limits_,
                                             stats_, *scratch_[shard], shards_.mailbox(shard), id,
                                             shard, std::move(remote), track(opened, true),
                                             max_message_bytes);
  outbound_[shard].insert(conn.get());
  conn->start(std::move(handshake), early);
  if (draining_) conn->shut_down();
}

void HttpServer::start_stream(tcp::socket socket, std::shared_ptr<HttpStreamListener> listener,
                              std::string head, std::size_t shard, std::uint64_t id,
                              std::string remote, std::chrono::steady_clock::time_point opened) {
  auto conn = std::make_shared<HttpStream>(std::move(socket), std::move(listener), limits_, stats_,
                                           shards_.mailbox(shard), id, shard, std::move(remote),
                                           track(opened, false));
  outbound_[shard].insert(conn.get());
  conn->start(std::move(head));
  if (draining_) conn->shut_down();
}

asio::awaitable<void> HttpServer::keepalive_loop(std::size_t shard) {
  auto& timer = *keepalive_timers_[shard];
  const auto period = std::max<std::chrono::steady_clock::duration>(
      std::chrono::milliseconds(250), limits_.idle_timeout / 4);
  while (!draining_) {
    timer.expires_after(period);
    boost::system::error_code ec;
    co_await timer.async_wait(redirect_error(use_awaitable, ec));
    if (ec || draining_) break;
    // A snapshot: check_idle may close a connection, which leaves the set.
    std::vector<OutboundConnection*> open(outbound_[shard].begin(), outbound_[shard].end());
    const auto now = std::chrono::steady_clock::now();
    for (auto* conn : open) conn->check_idle(now);
  }
}

}  // namespace parley::net
