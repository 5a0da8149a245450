#include "api/request_context.hpp"

#include "api/codec.hpp"

#include <algorithm>

namespace parley::api {

int http_status(Errc code) {
  switch (code) {
    case Errc::bad_request:
    case Errc::invalid_utf8:
    case Errc::unknown_op: return 400;
    case Errc::unauthenticated: return 401;
    case Errc::forbidden:
    case Errc::not_member: return 403;
    case Errc::not_found: return 404;
    case Errc::conflict: return 409;
    case Errc::too_large:
    case Errc::quota_exceeded: return 413;
    case Errc::unprocessable: return 422;
    case Errc::rate_limited: return 429;
    case Errc::unavailable: return 503;
    case Errc::internal: return 500;
  }
  return 500;
}

net::HttpResponse error_response(const Error& e) {
  net::HttpResponse r;
  r.status = http_status(e.code);
  r.body = error_body(e);
  if (r.status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() <= kScheme.size()) return std::nullopt;
  const auto scheme = authorization.substr(0, kScheme.size());
  if (!std::equal(scheme.begin(), scheme.end(), kScheme.begin(), kScheme.end(),
                  [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
    return std::nullopt;
  }
  return authorization.substr(kScheme.size());
}

bool origin_allowed(const ApiOptions& options, std::string_view origin, std::string_view host) {
  if (origin.empty()) return true;
  for (const auto& allowed : options.allowed_origins) {
    if (allowed == "*" || allowed == origin) return true;
  }
  const auto scheme_end = origin.find("://");
  if (scheme_end == origin.npos) return false;
  return origin.substr(scheme_end + 3) == host;
}

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding: %XX and '+'. nullopt for a malformed escape.
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;  // needs two hex digits after the %
      const int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  // Parsed by hand: Boost.URL 1.81 crashes on a query holding a '#' (found by fuzz_query), and
  // this is all a request needs. A fragment never reaches a server; ignore one if a client sends it.
  query = query.substr(0, query.find('#'));
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const auto eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq));
    if (!key || *key != name) continue;
    return eq == std::string_view::npos ? std::optional<std::string>("")
                                        : percent_decode(pair.substr(eq + 1));
  }
  return std::nullopt;
}

}  // namespace parley::api
