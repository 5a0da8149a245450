#pragma once
// ResponseBody: a response body the server writes piece by piece as the handler's source yields
// it (a file download), never whole in memory. The handler sets HttpResponse::body_stream and
// leaves HttpResponse::body empty; the server sends `Content-Length: size()` in the head, then
// reads and writes 1 MiB at a time until size() bytes are out.
//
// A read that throws, or yields fewer bytes than size() promised, ends the connection after the
// head (the client sees a short body, as HTTP says it should then).
//
// Owner: the handler creates it, the server holds it until the body is written.
// Threads: read_some is awaited on the connection's shard; it may offload its work.

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <span>

namespace parley::net {

class ResponseBody {
 public:
  virtual ~ResponseBody() = default;
  // The body's length in bytes.
  virtual std::uint64_t size() const = 0;
  // The next piece, at most into.size() bytes; 0 only once size() bytes were read.
  virtual boost::asio::awaitable<std::size_t> read_some(std::span<char> into) = 0;
};

}  // namespace parley::net
