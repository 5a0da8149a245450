#pragma once
// Unsigned integers as little-endian bytes, whatever the host: the journal's record headers
// (journal.cpp) and the inbox's records in them (inbox.cpp) are read back with these.

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

namespace parley::sqlite {

template <class U>
void put_le(char* at, U v) {
  static_assert(std::is_unsigned_v<U>);
  for (std::size_t i = 0; i < sizeof(U); ++i) at[i] = static_cast<char>(v >> (8 * i));
}

template <class U>
U get_le(const char* at) {
  static_assert(std::is_unsigned_v<U>);
  U v = 0;
  for (std::size_t i = 0; i < sizeof(U); ++i) {
    v |= static_cast<U>(U{static_cast<unsigned char>(at[i])} << (8 * i));
  }
  return v;
}

template <class U>
void append_le(std::string& out, U v) {
  char bytes[sizeof(U)];
  put_le(bytes, v);
  out.append(bytes, sizeof(U));
}

}  // namespace parley::sqlite
