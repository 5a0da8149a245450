#pragma once
// Time as Parley uses it: milliseconds since the Unix epoch (UTC), read through an injectable
// Clock so tests are deterministic. Thread-safety: SystemClock is stateless; ManualClock is for
// single-threaded tests.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parley {

using TimeMs = std::int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimeMs now_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimeMs now_ms() const override;
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimeMs start) : now_(start) {}
  TimeMs now_ms() const override { return now_; }
  void advance(TimeMs ms) { now_ += ms; }

 private:
  TimeMs now_;
};

// RFC 3339 UTC with milliseconds: 2026-11-21T08:15:30.123Z
std::string format_rfc3339(TimeMs ms);
// The same text in a fixed buffer, for the message path's events and acks (no allocation).
struct Rfc3339Text {
  char data[32];
  std::size_t size = 0;
  std::string_view view() const { return {data, size}; }
};
Rfc3339Text rfc3339_text(TimeMs ms);
// Any RFC 3339 date-time (a fraction or none, Z or an offset); milliseconds are kept.
std::optional<TimeMs> parse_rfc3339(std::string_view text);

}  // namespace parley
