#pragma once
// MultipartReader: a multipart/form-data body (RFC 7578) read as it arrives, for browser
// uploads: the parts' headers are parsed, and the bytes of the part named `file` are handed on
// as they come, never gathered. Pure (no I/O), so it is unit-tested and fuzzed on its own.
//
// Threads: one request's.

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace parley::api {

// The boundary parameter of a multipart/form-data Content-Type; nullopt when it is not one.
std::optional<std::string> multipart_boundary(std::string_view content_type);

class MultipartReader {
 public:
  // on_data gets the `file` part's bytes in order.
  MultipartReader(std::string boundary, std::function<void(std::string_view)> on_data);

  // The next bytes of the body. False once the body is malformed (error() says why).
  bool feed(std::string_view bytes);
  // After the last feed: whether the body ended with its closing boundary and had a file part.
  bool finish();

  const std::string& error() const { return error_; }
  // The file part's filename (its Content-Disposition's filename* or filename).
  const std::string& filename() const { return filename_; }
  bool saw_file() const { return saw_file_; }

 private:
  enum class State { preamble, after_boundary, headers, body, done, failed };
  bool fail(std::string why);
  bool parse_headers(std::string_view headers);

  const std::string delimiter_;  // "\r\n--" + boundary
  std::function<void(std::string_view)> on_data_;
  State state_ = State::preamble;
  std::string pending_;
  bool in_file_ = false;
  bool saw_file_ = false;
  std::string filename_;
  std::string error_;
  std::size_t preamble_bytes_ = 0;
};

}  // namespace parley::api
