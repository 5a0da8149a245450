#include "api/request_context.hpp"

#include <boost/json/serialize.hpp>

#include "api/codec.hpp"

#include <algorithm>

namespace parley::api {

int http_status(Errc code) {
  switch (code) {
    case Errc::bad_request:
    case Errc::invalid_utf8:
    case Errc::bad_ciphertext:
    case Errc::e2ee_required:
    case Errc::unknown_op: return 400;
    case Errc::unauthenticated:
    case Errc::mfa_required: return 401;
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

net::HttpResponse json_response(int status, const boost::json::value& body) {
  net::HttpResponse r;
  r.status = status;
  r.body = boost::json::serialize(body);
  return r;
}

net::HttpResponse error_response(const Error& e) {
  net::HttpResponse r;
  r.status = http_status(e.code);
  r.body = error_body(e);
  if (r.status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  // Every unavailable is worth retrying (a backend away, the password threads busy, a drain).
  if (r.status == 503) r.headers.emplace_back("Retry-After", "1");
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

}  // namespace parley::api
