#pragma once
// Base64 (RFC 4648): base64url without padding (§5), as JWTs and Parley's cursors use it, and the
// standard alphabet with padding (§4), as Engine.IO carries binary packets over long-polling.
// Decoding refuses anything that is not exactly one encoding of some bytes.
#include <optional>
#include <string>
#include <string_view>

namespace parley::auth {
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);
}  // namespace parley::auth
