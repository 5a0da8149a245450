#include "net/web_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>

#include "net/beast_client_response.hpp"

namespace parley::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

using Deadline = std::chrono::steady_clock::time_point;

template <class Stream>
asio::awaitable<ClientResponse> exchange(Stream& stream, const http::request<http::string_body>& req,
                                         std::size_t max_body, Deadline deadline) {
  beast::get_lowest_layer(stream).expires_at(deadline);
  co_await http::async_write(stream, req, asio::use_awaitable);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body);
  co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
  co_return to_client_response(parser.release());
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
      out.port.find_first_not_of("0123456789") != std::string::npos) {
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

  // One deadline for the whole exchange; the name lookup, which has none of its own, is cut
  // by run_until below.
  const Deadline deadline = std::chrono::steady_clock::now() + options.timeout;
  asio::io_context io;
  std::optional<ClientResponse> response;
  std::string failure;
  std::shared_ptr<ssl::context> tls;
  if (u.tls) {
    auto context = tls_context(options.ca_file);
    if (!context) return context.error();
    tls = std::move(*context);
  }

  auto run = [&]() -> asio::awaitable<void> {
    tcp::resolver resolver(io);
    const auto endpoints = co_await resolver.async_resolve(u.host, u.port, asio::use_awaitable);
    if (!u.tls) {
      beast::tcp_stream stream(io);
      stream.expires_at(deadline);
      co_await stream.async_connect(endpoints, asio::use_awaitable);
      response = co_await exchange(stream, req, options.max_body, deadline);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(io, *tls);
    boost::system::error_code not_an_address;
    asio::ip::make_address(u.host, not_an_address);
    if (not_an_address) {
      // A name: send it as SNI (SSL_set_tlsext_host_name, without its C cast).
      SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(u.host.c_str()));
    }
    stream.set_verify_callback(ssl::host_name_verification(u.host));
    beast::get_lowest_layer(stream).expires_at(deadline);
    co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
    co_await stream.async_handshake(ssl::stream_base::client, asio::use_awaitable);
    response = co_await exchange(stream, req, options.max_body, deadline);
  };
  asio::co_spawn(io, run(), [&](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const boost::system::system_error& error) {
      failure = error.code() == beast::error::timeout ? "timed out" : error.code().message();
    } catch (const std::exception& error) {
      failure = error.what();
    }
  });
  io.run_until(deadline + std::chrono::milliseconds(100));
  if (!response) {
    if (failure.empty()) failure = "timed out";
    return make_error(Errc::unavailable, "cannot fetch " + u.host + ": " + failure);
  }
  return std::move(*response);
}

}  // namespace parley::net
