#include "files/content_type.hpp"

#include <magic.h>

#include <memory>

#include "core/logging.hpp"

namespace parley::files {

namespace {

struct MagicCookie {
  magic_t cookie = nullptr;
  MagicCookie() {
    // MAGIC_MIME_TYPE: the type alone ("text/plain", not "; charset=…"). Compressed files are
    // not looked into, and a bounded amount of the input is read (the head we pass).
    cookie = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
    if (cookie && magic_load(cookie, nullptr) != 0) {
      log::error("event=libmagic_load_failed error=\"{}\"", magic_error(cookie));
      magic_close(cookie);
      cookie = nullptr;
    }
  }
  ~MagicCookie() {
    if (cookie) magic_close(cookie);
  }
};

}  // namespace

std::string detect_mime(std::string_view head) {
  // A libmagic handle is not thread-safe: one per thread, loaded once.
  thread_local MagicCookie magic;
  if (!magic.cookie || head.empty()) return "application/octet-stream";
  const char* type = magic_buffer(magic.cookie, head.data(), head.size());
  if (!type) return "application/octet-stream";
  std::string mime(type);
  // libmagic says "application/x-empty" or "inode/x-empty" for nothing, and "text/x-…" for
  // source code; keep what it says except where a browser would misread it.
  if (mime.find('/') == std::string::npos) return "application/octet-stream";
  return mime;
}

bool safe_inline(std::string_view mime) {
  if (mime == "image/svg+xml") return false;
  if (mime.starts_with("image/") || mime.starts_with("audio/") || mime.starts_with("video/")) {
    return true;
  }
  return mime == "text/plain" || mime == "application/pdf";
}

}  // namespace parley::files
