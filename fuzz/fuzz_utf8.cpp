// Fuzz target: the UTF-8 validator against a straightforward reference decoder, and truncation
// never splitting a character.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/utf8.hpp"

namespace {

// RFC 3629 by the book: decode each sequence fully, then judge the code point.
bool reference_valid(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    std::uint32_t cp = len == 1 ? c : c & (0xFF >> (len + 1));
    for (int k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const std::uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const bool valid = parley::is_valid_utf8(text);
  if (valid != reference_valid(text)) std::abort();
  if (valid) {
    for (std::size_t max : {std::size_t{0}, std::size_t{1}, size / 2, size}) {
      if (!parley::is_valid_utf8(parley::truncate_utf8(text, max))) std::abort();
    }
  }
  return 0;
}
