// HttpServer's request bodies on a real loopback socket: routes that stream their body
// (RouteOptions::stream_body) get it piece by piece under their own limit, and routes that
// take it whole get their own limit too. The client is a plain blocking Beast client on the
// test's thread; the server runs on one shard.
#include "net/http_server.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "net/request_body.hpp"

namespace parley::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

constexpr std::size_t kPiece = 16 * 1024;        // the handler's buffer
constexpr std::size_t kUploadLimit = 8 << 20;    // the streaming route's limit
constexpr std::size_t kServerLimit = 1024;       // --max-payload-bytes for every other route

// FNV-1a: enough to tell that every byte arrived, in order.
std::uint64_t fnv(std::uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  return h;
}
constexpr std::uint64_t kFnvStart = 14695981039346656037ull;

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return s;
}

// `body` as a chunked request to `target`, in chunks of `chunk` bytes.
std::string chunked_request(std::string_view target, std::string_view body, std::size_t chunk) {
  std::string out = "POST " + std::string(target) +
                    " HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  char size[32];
  for (std::size_t at = 0; at < body.size(); at += chunk) {
    const auto piece = body.substr(at, chunk);
    out += std::string(size, static_cast<std::size_t>(
                                 std::snprintf(size, sizeof size, "%zx\r\n", piece.size())));
    out += piece;
    out += "\r\n";
  }
  return out + "0\r\n\r\n";
}

HttpResponse reply(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

struct Observed {
  std::atomic<int> upload_calls{0};
  std::atomic<int> body_errors{0};
  std::atomic<std::size_t> largest_piece{0};
};

class HttpServerBodies : public ::testing::Test {
 protected:
  void SetUp() override {
    // Coroutine members, not coroutine lambdas: GCC 12 misreads an inlined coroutine lambda's
    // frame allocation (-Wmismatched-new-delete).
    router_.add("POST", "/upload", [this](HttpRequest& r) { return upload(r); },
                {.max_body_bytes = kUploadLimit, .stream_body = true});
    router_.add("POST", "/refuse", [](HttpRequest& r) { return refuse(r); },
                {.max_body_bytes = kUploadLimit, .stream_body = true});
    router_.add("POST", "/small", [](HttpRequest& r) { return body_size(r); },
                {.max_body_bytes = 100});
    router_.add("POST", "/default", [](HttpRequest& r) { return body_size(r); });
    ConnectionLimits limits;
    limits.max_payload_bytes = kServerLimit;
    limits.idle_timeout = std::chrono::seconds(5);
    server_ = std::make_unique<HttpServer>(shards_, limits, router_);
    const auto bound = server_->listen("127.0.0.1", 0);
    port_ = static_cast<std::uint16_t>(std::stoi(bound.substr(bound.rfind(':') + 1)));
    server_->start();
    shards_.start();
  }
  void TearDown() override {
    server_->shut_down();
    server_->close_remaining();
    // Let every connection's coroutine end on the running shard, as the node's drain does: one
    // still suspended (a lingering close's drain) would otherwise be destroyed with the shard's
    // io_context, after the server it counts itself against (ASan: heap-use-after-free).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (server_->open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    shards_.stop();
    shards_.join();
  }

  // Reads the body as it arrives; answers its size, hash and largest piece.
  asio::awaitable<HttpResponse> upload(HttpRequest& req) {
    ++seen_.upload_calls;
    std::vector<char> piece(kPiece);
    std::uint64_t hash = kFnvStart, bytes = 0;
    // What an upload would undo (a partial file) if read_some throws: RAII, as
    // net/request_body.hpp asks. The server answers the error.
    struct CountUnlessFinished {
      std::atomic<int>& failures;
      bool finished = false;
      ~CountUnlessFinished() {
        if (!finished) ++failures;
      }
    } undo{seen_.body_errors};
    while (auto n = co_await req.body_stream->read_some(piece)) {
      hash = fnv(hash, {piece.data(), n});
      bytes += n;
      if (n > seen_.largest_piece) seen_.largest_piece = n;
    }
    undo.finished = true;
    co_return reply(200, boost::json::serialize(boost::json::object{
                             {"bytes", bytes},
                             {"hash", std::to_string(hash)},
                             {"read", req.body_stream->bytes_read()}}));
  }
  // Answers without reading the body.
  static asio::awaitable<HttpResponse> refuse(HttpRequest&) {
    co_return reply(403, R"({"error":{"code":"forbidden","message":"no"}})");
  }
  static asio::awaitable<HttpResponse> body_size(HttpRequest& req) {
    co_return reply(200, std::to_string(req.body.size()));
  }

  tcp::socket connect() {
    tcp::socket s(client_io_);
    s.connect({asio::ip::make_address("127.0.0.1"), port_});
    return s;
  }
  http::response<http::string_body> exchange(tcp::socket& s, http::request<http::string_body> req) {
    req.set(http::field::host, "127.0.0.1");
    req.prepare_payload();
    http::write(s, req);
    return read_response(s);
  }
  http::response<http::string_body> read_response(tcp::socket& s) {
    http::response<http::string_body> res;
    http::read(s, buffer_, res);
    return res;
  }
  static http::request<http::string_body> post(std::string target, std::string body) {
    http::request<http::string_body> req{http::verb::post, target, 11};
    req.body() = std::move(body);
    return req;
  }
  // After the response: the server closed the connection.
  bool closed_by_server(tcp::socket& s) {
    boost::system::error_code ec;
    std::array<char, 16> b;
    s.read_some(asio::buffer(b), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }

  ShardPool shards_{1};
  Router router_;
  std::unique_ptr<HttpServer> server_;
  std::uint16_t port_ = 0;
  asio::io_context client_io_;
  beast::flat_buffer buffer_;
  Observed seen_;
};

TEST_F(HttpServerBodies, AStreamedBodyArrivesWholeInPiecesNoLargerThanTheHandlersBuffer) {
  const auto body = pattern(5 << 20);  // far past the server's 1 KiB limit, within the route's
  auto s = connect();
  auto res = exchange(s, post("/upload", body));
  ASSERT_EQ(res.result_int(), 200) << res.body();
  const auto got = boost::json::parse(res.body()).as_object();
  EXPECT_EQ(got.at("bytes").to_number<std::uint64_t>(), body.size());
  EXPECT_EQ(got.at("read").to_number<std::uint64_t>(), body.size());
  EXPECT_EQ(got.at("hash").as_string(), std::to_string(fnv(kFnvStart, body)));
  EXPECT_LE(seen_.largest_piece.load(), kPiece);
  // The body was read to its end: the connection serves the next request.
  auto again = exchange(s, post("/default", "hello"));
  EXPECT_EQ(again.result_int(), 200);
  EXPECT_EQ(again.body(), "5");
}

TEST_F(HttpServerBodies, AChunkedBodyStreamsToo) {
  const auto body = pattern(3 << 20);
  auto s = connect();
  asio::write(s, asio::buffer(chunked_request("/upload", body, 10000)));
  auto res = read_response(s);
  ASSERT_EQ(res.result_int(), 200) << res.body();
  const auto got = boost::json::parse(res.body()).as_object();
  EXPECT_EQ(got.at("bytes").to_number<std::uint64_t>(), body.size());
  EXPECT_EQ(got.at("hash").as_string(), std::to_string(fnv(kFnvStart, body)));
}

TEST_F(HttpServerBodies, ADeclaredLengthPastTheRoutesLimitIsRefusedBeforeTheHandlerRuns) {
  auto s = connect();
  http::request<http::string_body> req{http::verb::post, "/upload", 11};
  req.set(http::field::host, "127.0.0.1");
  req.content_length(kUploadLimit + 1);
  http::write(s, http::request<http::empty_body>(req.base()));  // the header alone
  auto res = read_response(s);
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_NE(res.body().find("\"too_large\""), std::string::npos);
  EXPECT_EQ(seen_.upload_calls.load(), 0);
  EXPECT_TRUE(closed_by_server(s));
}

TEST_F(HttpServerBodies, AChunkedBodyThatGrowsPastTheLimitFailsTheReadAndGets413) {
  auto s = connect();
  boost::system::error_code ec;
  asio::write(s, asio::buffer(chunked_request("/upload", pattern(kUploadLimit + kPiece), 65536)), ec);
  // The server may close before the client has written everything; the answer comes first.
  auto res = read_response(s);
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_NE(res.body().find("\"too_large\""), std::string::npos);
  EXPECT_EQ(seen_.upload_calls.load(), 1);
  EXPECT_EQ(seen_.body_errors.load(), 1);
}

TEST_F(HttpServerBodies, AWholeBodyRouteKeepsItsOwnLimitBelowTheServers) {
  auto s = connect();
  EXPECT_EQ(exchange(s, post("/small", std::string(100, 'x'))).result_int(), 200);
  auto res = exchange(s, post("/small", std::string(101, 'x')));
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_TRUE(closed_by_server(s));
  auto s2 = connect();
  EXPECT_EQ(exchange(s2, post("/default", std::string(kServerLimit + 1, 'x'))).result_int(), 413);
}

TEST_F(HttpServerBodies, ExpectContinueIsAnsweredBeforeTheBodyIsSent) {
  auto s = connect();
  const auto body = pattern(200 * 1024);
  const std::string head = "POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\nExpect: 100-continue\r\n\r\n";
  asio::write(s, asio::buffer(head));
  std::string interim;
  asio::read_until(s, asio::dynamic_buffer(interim), "\r\n\r\n");
  EXPECT_EQ(interim.substr(0, interim.find("\r\n\r\n") + 4), "HTTP/1.1 100 Continue\r\n\r\n");
  asio::write(s, asio::buffer(body));
  auto res = read_response(s);
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(boost::json::parse(res.body()).at("bytes").to_number<std::uint64_t>(), body.size());
}

TEST_F(HttpServerBodies, AHandlerThatLeavesTheBodyUnreadIsAnsweredAndTheConnectionCloses) {
  auto s = connect();
  http::request<http::string_body> req{http::verb::post, "/refuse", 11};
  req.set(http::field::host, "127.0.0.1");
  req.content_length(1 << 20);
  http::write(s, http::request<http::empty_body>(req.base()));
  auto res = read_response(s);
  EXPECT_EQ(res.result_int(), 403);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(closed_by_server(s));
}

}  // namespace
}  // namespace parley::net
