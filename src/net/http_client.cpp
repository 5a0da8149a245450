#include "net/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>

#include "core/logging.hpp"
#include "net/beast_client_response.hpp"

namespace parley::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string ClientResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (beast::iequals(k, name)) return v;
  }
  return {};
}

struct HttpClient::Connection {
  asio::io_context io;
  beast::tcp_stream stream{io};
  beast::flat_buffer buffer;
};

struct HttpClient::Pool {
  std::mutex mutex;
  std::vector<std::unique_ptr<Connection>> idle;
};

HttpClient::HttpClient(std::string host, std::uint16_t port, std::chrono::seconds timeout)
    : host_(std::move(host)), port_(port), host_header_(host_ + ":" + std::to_string(port)),
      timeout_(timeout), pool_(std::make_unique<Pool>()) {}

HttpClient::~HttpClient() = default;

std::unique_ptr<HttpClient::Connection> HttpClient::take() {
  {
    std::lock_guard lock(pool_->mutex);
    if (!pool_->idle.empty()) {
      auto c = std::move(pool_->idle.back());
      pool_->idle.pop_back();
      return c;
    }
  }
  auto c = std::make_unique<Connection>();
  tcp::resolver resolver(c->io);
  boost::system::error_code ec;
  auto endpoints = resolver.resolve(host_, std::to_string(port_), ec);
  if (ec) return nullptr;
  c->stream.expires_after(timeout_);
  c->stream.connect(endpoints, ec);
  if (ec) return nullptr;
  c->stream.socket().set_option(tcp::no_delay(true), ec);
  return c;
}

void HttpClient::give_back(std::unique_ptr<Connection> c) {
  std::lock_guard lock(pool_->mutex);
  if (pool_->idle.size() < 8) pool_->idle.push_back(std::move(c));
}

Result<ClientResponse> HttpClient::send(std::string_view method, std::string_view target,
                                        const std::vector<std::pair<std::string, std::string>>& headers,
                                        std::string_view body, std::size_t max_body) {
  std::string last_error;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto c = take();
    if (!c) {
      last_error = "cannot connect";
      continue;
    }
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, host_header_);
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = std::string(body);
    req.prepare_payload();
    boost::system::error_code ec;
    c->stream.expires_after(timeout_);
    http::write(c->stream, req, ec);
    if (!ec) {
      http::response_parser<http::string_body> parser;
      parser.body_limit(max_body);
      if (method == "HEAD") parser.skip(true);
      c->stream.expires_after(timeout_);
      http::read(c->stream, c->buffer, parser, ec);
      if (!ec) {
        const bool keep_alive = parser.get().keep_alive();
        auto out = to_client_response(parser.release());
        if (keep_alive) give_back(std::move(c));
        return out;
      }
    }
    last_error = ec.message();
  }
  log::warn("event=http_client_error host={} method={} error=\"{}\"", host_header_, method, last_error);
  return make_error(Errc::unavailable, "cannot reach " + host_header_ + ": " + last_error);
}

}  // namespace parley::net
