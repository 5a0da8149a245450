#include "core/result.hpp"

namespace parley {

std::string_view errc_code(Errc e) {
  switch (e) {
    case Errc::bad_request: return "bad_request";
    case Errc::invalid_utf8: return "invalid_utf8";
    case Errc::too_large: return "too_large";
    case Errc::unauthenticated: return "unauthenticated";
    case Errc::forbidden: return "forbidden";
    case Errc::not_member: return "not_member";
    case Errc::not_found: return "not_found";
    case Errc::conflict: return "conflict";
    case Errc::unknown_op: return "unknown_op";
    case Errc::rate_limited: return "rate_limited";
    case Errc::unavailable: return "unavailable";
    case Errc::quota_exceeded: return "quota_exceeded";
    case Errc::unprocessable: return "unprocessable";
    case Errc::bad_ciphertext: return "bad_ciphertext";
    case Errc::e2ee_required: return "e2ee_required";
    case Errc::mfa_required: return "mfa_required";
    case Errc::internal: return "internal";
  }
  return "internal";
}

Errc errc_from_code(std::string_view code) {
  for (int i = 0; i < static_cast<int>(Errc::internal); ++i) {
    const auto e = static_cast<Errc>(i);
    if (errc_code(e) == code) return e;
  }
  return Errc::internal;
}

}  // namespace parley
