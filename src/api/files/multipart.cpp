#include "api/files/multipart.hpp"

#include <algorithm>
#include <cctype>

#include "core/url.hpp"

namespace parley::api {

namespace {

constexpr std::size_t kMaxHeaderBytes = 8 * 1024;
constexpr std::size_t kMaxPreambleBytes = 64 * 1024;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The value of parameter `name` in a header value's "; name=value" list (quoted or not).
std::optional<std::string> parameter(std::string_view value, std::string_view name) {
  std::size_t i = value.find(';');
  while (i != std::string_view::npos) {
    ++i;
    auto rest = trim(value.substr(i));
    const auto eq = rest.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const auto key = lower(trim(rest.substr(0, eq)));
    auto v = rest.substr(eq + 1);
    std::string out;
    std::size_t used = 0;
    if (!v.empty() && v.front() == '"') {
      for (used = 1; used < v.size() && v[used] != '"'; ++used) {
        if (v[used] == '\\' && used + 1 < v.size()) ++used;
        out += v[used];
      }
      ++used;
    } else {
      used = std::min(v.find(';'), v.size());
      out = std::string(trim(v.substr(0, used)));
    }
    if (key == name) return out;
    const auto next = v.find(';', std::min(used, v.size()));
    if (next == std::string_view::npos) return std::nullopt;
    i = value.size() - v.size() + next;
  }
  return std::nullopt;
}

// RFC 5987's ext-value: charset'language'percent-encoded (UTF-8 only).
std::optional<std::string> ext_value(std::string_view v) {
  const auto q1 = v.find('\'');
  if (q1 == std::string_view::npos) return std::nullopt;
  const auto q2 = v.find('\'', q1 + 1);
  if (q2 == std::string_view::npos || lower(v.substr(0, q1)) != "utf-8") return std::nullopt;
  return percent_decode(v.substr(q2 + 1), /*plus_is_space=*/false);
}

}  // namespace

std::optional<std::string> multipart_boundary(std::string_view content_type) {
  const auto semi = content_type.find(';');
  if (lower(trim(content_type.substr(0, semi))) != "multipart/form-data") return std::nullopt;
  auto b = parameter(content_type, "boundary");
  // RFC 2046: 1 to 70 characters.
  if (!b || b->empty() || b->size() > 70) return std::nullopt;
  return b;
}

MultipartReader::MultipartReader(std::string boundary, std::function<void(std::string_view)> on_data)
    : delimiter_("\r\n--" + boundary), on_data_(std::move(on_data)) {
  // The first boundary may open the body, without the CRLF before it.
  pending_ = "\r\n";
}

bool MultipartReader::fail(std::string why) {
  state_ = State::failed;
  error_ = std::move(why);
  return false;
}

bool MultipartReader::parse_headers(std::string_view headers) {
  in_file_ = false;
  std::optional<std::string> name, filename;
  while (!headers.empty()) {
    const auto end = std::min(headers.find("\r\n"), headers.size());
    const auto line = headers.substr(0, end);
    headers.remove_prefix(std::min(end + 2, headers.size()));
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return fail("a part header without a colon");
    if (lower(trim(line.substr(0, colon))) != "content-disposition") continue;
    const auto value = line.substr(colon + 1);
    name = parameter(value, "name");
    if (auto ext = parameter(value, "filename*")) filename = ext_value(*ext);
    if (!filename) filename = parameter(value, "filename");
  }
  if (name == "file") {
    if (saw_file_) return fail("more than one file part; upload one file per request");
    saw_file_ = true;
    in_file_ = true;
    filename_ = filename.value_or("");
  }
  return true;
}

bool MultipartReader::feed(std::string_view bytes) {
  if (state_ == State::failed) return false;
  if (state_ == State::done) return true;  // the epilogue is ignored
  pending_.append(bytes);
  for (;;) {
    switch (state_) {
      case State::preamble: {
        const auto at = pending_.find(delimiter_);
        if (at == std::string::npos) {
          const auto keep = std::min(pending_.size(), delimiter_.size() - 1);
          preamble_bytes_ += pending_.size() - keep;
          if (preamble_bytes_ > kMaxPreambleBytes) return fail("no multipart boundary found");
          pending_.erase(0, pending_.size() - keep);
          return true;
        }
        pending_.erase(0, at + delimiter_.size());
        state_ = State::after_boundary;
        break;
      }
      case State::after_boundary: {
        // Transport padding (spaces, tabs) may follow a boundary before its CRLF.
        const auto text = pending_.find_first_not_of(" \t");
        if (text == std::string::npos || pending_.size() - text < 2) return true;
        if (pending_.compare(text, 2, "--") == 0) {
          pending_.clear();
          state_ = State::done;
          return true;
        }
        if (pending_.compare(text, 2, "\r\n") != 0) return fail("malformed multipart boundary");
        pending_.erase(0, text + 2);
        state_ = State::headers;
        break;
      }
      case State::headers: {
        const auto end = pending_.find("\r\n\r\n");
        if (end == std::string::npos) {
          if (pending_.size() > kMaxHeaderBytes) return fail("multipart part headers are too long");
          return true;
        }
        if (end > kMaxHeaderBytes) return fail("multipart part headers are too long");
        if (!parse_headers(std::string_view(pending_).substr(0, end))) return false;
        pending_.erase(0, end + 4);
        state_ = State::body;
        break;
      }
      case State::body: {
        const auto at = pending_.find(delimiter_);
        if (at == std::string::npos) {
          // All but what could be the start of the delimiter.
          const auto keep = std::min(pending_.size(), delimiter_.size() - 1);
          if (in_file_ && pending_.size() > keep) {
            on_data_(std::string_view(pending_).substr(0, pending_.size() - keep));
          }
          pending_.erase(0, pending_.size() - keep);
          return true;
        }
        if (in_file_ && at > 0) on_data_(std::string_view(pending_).substr(0, at));
        in_file_ = false;
        pending_.erase(0, at + delimiter_.size());
        state_ = State::after_boundary;
        break;
      }
      case State::done:
      case State::failed:
        return state_ == State::done;
    }
  }
}

bool MultipartReader::finish() {
  if (state_ == State::failed) return false;
  if (state_ != State::done) return fail("the multipart body ends before its closing boundary");
  if (!saw_file_) return fail("no part named \"file\" in the multipart body");
  return true;
}

}  // namespace parley::api
