#include "net/web_client.hpp"

#include <poll.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "net/beast_client_response.hpp"

namespace parley::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

using Deadline = std::chrono::steady_clock::time_point;

// The response, and whether the connection may carry another request.
template <class Stream>
asio::awaitable<std::pair<ClientResponse, bool>> exchange(
    Stream& stream, const http::request<http::string_body>& req, std::size_t max_body,
    Deadline deadline) {
  beast::get_lowest_layer(stream).expires_at(deadline);
  co_await http::async_write(stream, req, asio::use_awaitable);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body);
  co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
  // Bytes past the response (none from a well-behaved server) would be read as the next one's.
  const bool keep = parser.get().keep_alive() && buffer.size() == 0;
  beast::get_lowest_layer(stream).expires_never();
  co_return std::pair{to_client_response(parser.release()), keep};
}

}  // namespace

bool is_loopback(std::string_view host) {
  if (host == "localhost" || host == "::1") return true;
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  return !ec && address.is_loopback();
}

Result<WebUrl> parse_web_url(std::string_view url) {
  WebUrl out;
  if (url.starts_with("https://")) {
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    url.remove_prefix(7);
    out.tls = false;
  } else {
    return make_error(Errc::bad_request, "not an http(s) URL: " + std::string(url));
  }
  const auto path_at = url.find_first_of("/?#");
  std::string_view authority = url.substr(0, path_at);
  std::string_view rest = path_at == std::string_view::npos ? "/" : url.substr(path_at);
  if (const auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  if (authority.find('@') != std::string_view::npos || authority.empty()) {
    return make_error(Errc::bad_request, "URL has no host or has credentials");
  }
  out.port = out.tls ? "443" : "80";
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return make_error(Errc::bad_request, "bad IPv6 host");
    out.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    if (!authority.empty()) {
      if (authority.front() != ':') return make_error(Errc::bad_request, "bad port");
      out.port = std::string(authority.substr(1));
    }
  } else if (const auto colon = authority.find(':'); colon != std::string_view::npos) {
    out.host = std::string(authority.substr(0, colon));
    out.port = std::string(authority.substr(colon + 1));
  } else {
    out.host = std::string(authority);
  }
  if (out.port.empty() || out.port.size() > 5 ||
      out.port.find_first_not_of("0123456789") != std::string::npos || std::stoi(out.port) > 65535) {
    return make_error(Errc::bad_request, "bad port in URL");
  }
  if (rest.empty()) rest = "/";
  out.target = rest.front() == '?' ? "/" + std::string(rest) : std::string(rest);
  return out;
}

namespace {

// The TLS client context of a CA file ("": the system's), made once: reading the CA
// certificates costs tens of milliseconds, more than the request (push notifications make many).
// An SSL_CTX may make connections on several threads at once.
Result<std::shared_ptr<ssl::context>> tls_context(const std::string& ca_file) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<ssl::context>> contexts;
  std::lock_guard lock(mutex);
  if (auto it = contexts.find(ca_file); it != contexts.end()) return it->second;
  auto tls = std::make_shared<ssl::context>(ssl::context::tls_client);
  tls->set_options(ssl::context::no_sslv2 | ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                   ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  if (ca_file.empty()) {
    tls->set_default_verify_paths(ec);
  } else {
    tls->load_verify_file(ca_file, ec);
  }
  if (ec) return make_error(Errc::unavailable, "cannot load CA certificates: " + ec.message());
  tls->set_verify_mode(ssl::verify_peer);
  contexts.emplace(ca_file, tls);
  return tls;
}

// One connection and the io_context it runs on: a fetch() runs it until its exchange is done.
// Kept (keep_alive) between calls to the same origin.
struct Connection {
  explicit Connection(std::shared_ptr<ssl::context> context) : tls_context(std::move(context)) {
    if (tls_context) {
      tls.emplace(io, *tls_context);
    } else {
      plain.emplace(io);
    }
  }
  beast::tcp_stream& tcp() { return plain ? *plain : beast::get_lowest_layer(*tls); }

  asio::io_context io;  // first: destroyed after the streams
  std::shared_ptr<ssl::context> tls_context;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  bool open = false;  // connected (and, with TLS, the handshake done)
};

// Idle kept-alive connections by origin (scheme, host, port and CA file), the most recently used
// last. Bounded: a few per origin, a few hundred in all, none idle for long.
class IdleConnections {
 public:
  static IdleConnections& shared() {
    static IdleConnections pool;
    return pool;
  }

  // An idle connection to `origin` the server has not closed, or null.
  std::unique_ptr<Connection> take(const std::string& origin) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    auto it = idle_.find(origin);
    while (it != idle_.end() && !it->second.empty()) {
      auto [since, conn] = std::move(it->second.back());
      it->second.pop_back();
      --count_;
      if (now - since < kMaxIdle && still_open(*conn)) return std::move(conn);
    }
    return nullptr;
  }

  void give_back(const std::string& origin, std::unique_ptr<Connection> conn) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    auto& list = idle_[origin];
    // The oldest go first: past their idle time, or when the bounds are reached.
    std::erase_if(list, [&](const auto& entry) {
      const bool drop = now - entry.first >= kMaxIdle;
      count_ -= drop ? 1 : 0;
      return drop;
    });
    if (list.size() >= kMaxPerOrigin || count_ >= kMaxTotal) {
      if (list.empty()) return;  // the pool is full of other origins' connections
      list.erase(list.begin());
      --count_;
    }
    list.emplace_back(now, std::move(conn));
    ++count_;
  }

 private:
  static constexpr auto kMaxIdle = std::chrono::seconds(30);
  static constexpr std::size_t kMaxPerOrigin = 16;
  static constexpr std::size_t kMaxTotal = 256;

  // An idle connection has nothing to read: anything readable is the server's close (or
  // garbage), and the connection is not used again.
  static bool still_open(Connection& conn) {
    pollfd p{conn.tcp().socket().native_handle(), POLLIN | POLLRDHUP, 0};
    return ::poll(&p, 1, 0) == 0;
  }

  std::mutex mutex_;
  std::map<std::string,
           std::vector<std::pair<std::chrono::steady_clock::time_point, std::unique_ptr<Connection>>>>
      idle_;
  std::size_t count_ = 0;
};

// What a kept connection the server closed meanwhile fails with before any answer: worth one
// more try on a new connection.
bool closed_by_server(const boost::system::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == ssl::error::stream_truncated;
}

}  // namespace

Result<ClientResponse> fetch(std::string_view method, std::string_view url,
                             const std::vector<std::pair<std::string, std::string>>& headers,
                             std::string_view body, const FetchOptions& options) {
  auto parsed = parse_web_url(url);
  if (!parsed) return parsed.error();
  const WebUrl& u = *parsed;
  if (!u.tls && !is_loopback(u.host)) {
    return make_error(Errc::bad_request, "plain http:// is allowed to loopback hosts only: " +
                                             std::string(url));
  }
  http::request<http::string_body> req{http::string_to_verb(method), u.target, 11};
  const bool default_port = u.port == (u.tls ? "443" : "80");
  const std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  req.set(http::field::host, default_port ? host : host + ":" + u.port);
  req.set(http::field::user_agent, "Parley");
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty() || method == "POST") {
    req.body() = std::string(body);
    req.prepare_payload();
  }
  req.keep_alive(options.keep_alive);

  std::shared_ptr<ssl::context> tls;
  if (u.tls) {
    auto context = tls_context(options.ca_file);
    if (!context) return context.error();
    tls = std::move(*context);
  }
  boost::system::error_code not_an_address;
  const auto address = asio::ip::make_address(u.host, not_an_address);
  const std::string origin = (u.tls ? "https://" : "http://") + host + ":" + u.port + " " + options.ca_file;
  auto& pool = IdleConnections::shared();

  // One deadline for the whole exchange, a retry included; the name lookup, which has none of
  // its own, is cut by run_until below.
  const Deadline deadline = std::chrono::steady_clock::now() + options.timeout;
  std::string failure;
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<Connection> conn = options.keep_alive ? pool.take(origin) : nullptr;
    const bool reused = conn != nullptr;
    if (!conn) conn = std::make_unique<Connection>(tls);
    std::optional<ClientResponse> response;
    bool keep = false;
    boost::system::error_code error;
    failure.clear();

    auto run = [&]() -> asio::awaitable<void> {
      Connection& c = *conn;
      if (!c.open) {
        std::vector<tcp::endpoint> endpoints;
        if (!not_an_address) {
          endpoints.emplace_back(address, static_cast<std::uint16_t>(std::stoi(u.port)));
        } else {
          tcp::resolver resolver(c.io);
          for (const auto& e : co_await resolver.async_resolve(u.host, u.port, asio::use_awaitable)) {
            endpoints.push_back(e.endpoint());
          }
        }
        c.tcp().expires_at(deadline);
        co_await c.tcp().async_connect(endpoints, asio::use_awaitable);
        if (c.tls) {
          if (not_an_address) {
            // A name: send it as SNI (SSL_set_tlsext_host_name, without its C cast).
            SSL_ctrl(c.tls->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                     const_cast<char*>(u.host.c_str()));
          }
          c.tls->set_verify_callback(ssl::host_name_verification(u.host));
          co_await c.tls->async_handshake(ssl::stream_base::client, asio::use_awaitable);
        }
        c.open = true;
      }
      // (Not one co_await per arm of a ?: — GCC 12 destroys the result too early there.)
      std::pair<ClientResponse, bool> answer;
      if (c.tls) {
        answer = co_await exchange(*c.tls, req, options.max_body, deadline);
      } else {
        answer = co_await exchange(*c.plain, req, options.max_body, deadline);
      }
      response = std::move(answer.first);
      keep = answer.second;
    };
    conn->io.restart();
    asio::co_spawn(conn->io, run(), [&](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const boost::system::system_error& caught) {
        error = caught.code();
        failure = error == beast::error::timeout ? "timed out" : error.message();
      } catch (const std::exception& caught) {
        failure = caught.what();
      }
    });
    conn->io.run_until(deadline + std::chrono::milliseconds(100));
    if (response) {
      if (options.keep_alive && keep) pool.give_back(origin, std::move(conn));
      return std::move(*response);
    }
    if (!(reused && closed_by_server(error))) break;
  }
  if (failure.empty()) failure = "timed out";
  return make_error(Errc::unavailable, "cannot fetch " + u.host + ": " + failure);
}

}  // namespace parley::net
