#include "core/ids.hpp"

#include <sys/random.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace parley {

std::string format_uuid_v7(TimeMs now, std::uint64_t rand_a, std::uint64_t rand_b) {
  const auto ts = static_cast<std::uint64_t>(now) & 0xFFFFFFFFFFFFULL;
  const unsigned ver_rand_a = 0x7000u | static_cast<unsigned>(rand_a & 0x0FFFu);
  const unsigned variant_hi = 0x8000u | static_cast<unsigned>((rand_b >> 48) & 0x3FFFu);
  const std::uint64_t node = rand_b & 0xFFFFFFFFFFFFULL;
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", unsigned(ts >> 16),
                unsigned(ts & 0xFFFF), ver_rand_a, variant_hi,
                static_cast<unsigned long long>(node));
  return buf;
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

}  // namespace parley
