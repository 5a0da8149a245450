#include "api/request_context.hpp"

#include <algorithm>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "net/offload.hpp"

namespace parley::api {

boost::asio::awaitable<Result<chat::NewMessage>> prepare_send(ApiContext& ctx, const Caller& caller,
                                                              SendRequest request, bool group_only) {
  if (auto fast = ctx.service.try_prepare_send(caller, request, group_only)) co_return std::move(*fast);
  co_return co_await net::offload(ctx.blocking, [&] {
    return ctx.service.prepare_send(caller, std::move(request), group_only);
  });
}

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
    case Errc::too_large: return 413;
    case Errc::rate_limited: return 429;
    case Errc::unavailable: return 503;
    case Errc::internal: return 500;
  }
  return 500;
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

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  const std::string target = "?" + std::string(query);  // outlives the url_view below
  auto url = boost::urls::parse_relative_ref(target);
  if (!url) return std::nullopt;
  for (const auto& param : url->params()) {
    if (param.key == name) return std::string(param.value);
  }
  return std::nullopt;
}

}  // namespace parley::api
