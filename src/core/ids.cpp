#include "core/ids.hpp"

#include <sys/random.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace parley {

std::string format_uuid_v7(TimeMs now, std::uint64_t rand_a, std::uint64_t rand_b) {
  // 48-bit ms timestamp, version 7, 12 random bits, variant 10, 62 random bits (RFC 9562 §5.7).
  const auto ts = static_cast<std::uint64_t>(now) & 0xFFFFFFFFFFFFULL;
  const std::uint64_t hi = (ts << 16) | 0x7000u | (rand_a & 0x0FFFu);
  const std::uint64_t lo = (rand_b & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(36, '-');
  int bit = 60;  // the next nibble of hi, then lo
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) continue;
    const std::uint64_t word = i < 19 ? hi : lo;
    out[i] = kHex[(word >> bit) & 0xF];
    bit = bit == 0 ? 60 : bit - 4;
  }
  return out;
}

std::string SystemIdGenerator::uuid_v7(TimeMs now) {
  thread_local std::mt19937_64 rng{[] {
    std::uint64_t seed;
    const auto s = secure_random_bytes(sizeof seed);
    std::memcpy(&seed, s.data(), sizeof seed);
    return seed;
  }()};
  return format_uuid_v7(now, rng(), rng());
}

std::string SeededIdGenerator::uuid_v7(TimeMs now) {
  std::lock_guard lock(mutex_);
  const auto a = rng_();
  return format_uuid_v7(now, a, rng_());
}

bool is_uuid(std::string_view t) {
  if (t.size() != 36) return false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

std::string secure_random_bytes(std::size_t bytes) {
  std::string out(bytes, '\0');
  std::size_t filled = 0;
  while (filled < bytes) {
    const auto n = getrandom(out.data() + filled, bytes - filled, 0);
    if (n < 0) throw std::runtime_error("getrandom failed");
    filled += static_cast<std::size_t>(n);
  }
  return out;
}

std::optional<TimeMs> uuid_v7_time(std::string_view id) {
  if (!is_uuid(id)) return std::nullopt;
  TimeMs ms = 0;
  for (char c : std::string(id.substr(0, 8)) + std::string(id.substr(9, 4))) {
    ms = ms * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return ms;
}

}  // namespace parley
