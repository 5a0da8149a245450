#pragma once
// UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
#include <cstddef>
#include <string_view>

namespace parley {
bool is_valid_utf8(std::string_view text);
// The longest prefix of text no longer than max_bytes that does not split a UTF-8 sequence.
std::string_view truncate_utf8(std::string_view text, std::size_t max_bytes);
}
