#pragma once
// HttpClient: a blocking HTTP/1.1 client for Parley's own calls to other services over plain
// TCP (S3-compatible object storage). Keeps a few idle keep-alive connections to its one
// server and opens more when all are busy. Plain types here; Beast only in http_client.cpp.
//
// Threads: any (blocking: call from the blocking pool). Thread-safe.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace parley::net {

struct ClientResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names as the server sent them
  std::string body;
  // The first header called `name` (any case), or "".
  std::string header(std::string_view name) const;
};

class HttpClient {
 public:
  // host: a name or address; the connection's Host header is host:port.
  HttpClient(std::string host, std::uint16_t port, std::chrono::seconds timeout = std::chrono::seconds(30));
  ~HttpClient();

  // Sends one request (a Content-Length is set from the body) and reads the whole response,
  // at most max_body bytes. Errc::unavailable when the server cannot be reached or answers
  // malformed; a connection that failed is retried once on a new one for requests that are
  // safe to repeat (every S3 request Parley makes is).
  Result<ClientResponse> send(std::string_view method, std::string_view target,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              std::string_view body = {}, std::size_t max_body = 64 << 20);

  const std::string& host_header() const { return host_header_; }

 private:
  struct Connection;
  std::unique_ptr<Connection> take();
  void give_back(std::unique_ptr<Connection> c);

  const std::string host_;
  const std::uint16_t port_;
  const std::string host_header_;
  const std::chrono::seconds timeout_;
  struct Pool;
  std::unique_ptr<Pool> pool_;
};

}  // namespace parley::net
