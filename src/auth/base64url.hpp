#pragma once
// base64url without padding (RFC 4648 §5), as JWTs use it.
#include <optional>
#include <string>
#include <string_view>

namespace parley::auth {
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);
}  // namespace parley::auth
