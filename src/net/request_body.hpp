#pragma once
// RequestBody: the body of a request whose route reads it as a stream (RouteOptions::
// stream_body), piece by piece as it arrives, never whole in memory: uploads.
//
//   std::array<char, 64 * 1024> piece;
//   while (auto n = co_await request.body_stream->read_some(piece)) sink.write({piece.data(), n});
//
// The route's body limit (RouteOptions::max_body_bytes) holds for the stream: a declared
// Content-Length past it is refused before the handler runs; a chunked body that grows past it,
// a malformed one, a client that goes away or stalls longer than the idle timeout, all make
// read_some throw RequestBodyError. The handler undoes what it did (RAII: a temporary file
// deleted unless committed) and lets the error go or returns anything: the server answers the
// error's status (413 too_large, 400 bad_request, or nothing to a client that is gone) and
// closes the connection. A handler that stops reading early gets its response sent, and the
// connection closes after it (the rest of the body is never read).
//
// Owner: the server (net/http_server.cpp), for the duration of the handler's call.
// Threads: the connection's shard, from the handler's coroutine only.

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>

namespace parley::net {

// Why a streamed body could not be read to its end. `status` is the answer the server gives:
// 413, 400, or 0 when the client is gone (no answer).
class RequestBodyError : public std::runtime_error {
 public:
  RequestBodyError(int status, std::string code, const std::string& message)
      : std::runtime_error(message), status_(status), code_(std::move(code)) {}
  int status() const { return status_; }
  const std::string& code() const { return code_; }

 private:
  int status_;
  std::string code_;
};

class RequestBody {
 public:
  virtual ~RequestBody() = default;
  // Reads the next piece of the body into `into` (at most into.size() bytes, at least one unless
  // the body is complete). Returns the bytes read; 0 once the whole body has been read. Throws
  // RequestBodyError (see above).
  virtual boost::asio::awaitable<std::size_t> read_some(std::span<char> into) = 0;
  // The Content-Length the client declared; none for a chunked body.
  virtual std::optional<std::uint64_t> declared_length() const = 0;
  // Bytes handed out by read_some so far.
  virtual std::uint64_t bytes_read() const = 0;
  // The largest body the route accepts.
  virtual std::uint64_t limit() const = 0;
};

}  // namespace parley::net
