#pragma once
// Identifiers: UUIDv7 (RFC 9562) for conversations, messages and files, so ids sort by creation
// time; secure random tokens for refresh tokens and keys.
// Thread-safety: IdGenerator::uuid_v7 may be called from any thread (SystemIdGenerator keeps
// a thread-local generator); SeededIdGenerator is for single-threaded tests.

#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "core/time.hpp"

namespace parley {

class IdGenerator {
 public:
  virtual ~IdGenerator() = default;
  // A new UUIDv7 string, lowercase, 8-4-4-4-12.
  virtual std::string uuid_v7(TimeMs now) = 0;
};

class SystemIdGenerator final : public IdGenerator {
 public:
  std::string uuid_v7(TimeMs now) override;
};

// Deterministic ids for tests.
class SeededIdGenerator final : public IdGenerator {
 public:
  explicit SeededIdGenerator(std::uint64_t seed) : rng_(seed) {}
  std::string uuid_v7(TimeMs now) override;

 private:
  std::mutex mutex_;
  std::mt19937_64 rng_;
};

// Builds the UUIDv7 text from a timestamp and 74 random bits (taken from two words).
std::string format_uuid_v7(TimeMs now, std::uint64_t rand_a, std::uint64_t rand_b);
bool is_uuid(std::string_view text);
// The creation time a UUIDv7 carries (its first 48 bits); nullopt for text that is not a UUID.
std::optional<TimeMs> uuid_v7_time(std::string_view id);

// `bytes` cryptographically secure random bytes (libsodium-free: reads the OS CSPRNG).
std::string secure_random_bytes(std::size_t bytes);

}  // namespace parley
