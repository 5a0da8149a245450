#include "push/sender.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>

namespace parley::push {

namespace {
// Longer than any push's TTL (28 days at most): it only means "give up", and it cannot overflow.
constexpr std::int64_t kMaxRetryAfter = 30 * 24 * 3600;
}  // namespace

SendOutcome SendOutcome::from_status(int status, std::optional<std::chrono::seconds> retry_after,
                                     std::string detail) {
  SendOutcome o;
  o.status = status;
  o.retry_after = retry_after;
  o.detail = std::move(detail);
  if (status >= 200 && status < 300) {
    o.kind = Kind::sent;
  } else if (status == 404 || status == 410) {
    o.kind = Kind::gone;
  } else if (status == 408 || status == 425 || status == 429 || status >= 500) {
    o.kind = Kind::retry;
  } else {
    o.kind = Kind::failed;
  }
  return o;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, std::int64_t now_s) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  std::int64_t seconds = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc() && end == value.data() + value.size()) {
    if (seconds < 0) return std::nullopt;
    return std::chrono::seconds(std::min(seconds, kMaxRetryAfter));
  }
  // An HTTP date: "Sun, 06 Nov 1994 08:49:37 GMT".
  std::tm tm{};
  const std::string text(value);
  const char* parsed = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!parsed || *parsed != '\0') return std::nullopt;
  const std::int64_t at = timegm(&tm);
  return std::chrono::seconds(std::clamp<std::int64_t>(at - now_s, 0, kMaxRetryAfter));
}

SendOutcome outcome_of(const net::ClientResponse& response, std::int64_t now_s) {
  return SendOutcome::from_status(response.status,
                                  parse_retry_after(response.header("Retry-After"), now_s),
                                  response.body.substr(0, 300));
}

SendOutcome unanswered(const Error& error) {
  return {error.code == Errc::bad_request ? SendOutcome::Kind::gone : SendOutcome::Kind::retry, 0,
          std::nullopt, error.message};
}

}  // namespace parley::push
