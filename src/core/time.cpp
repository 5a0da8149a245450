#include "core/time.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace parley {

TimeMs SystemClock::now_ms() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

Rfc3339Text rfc3339_text(TimeMs ms) {
  using namespace std::chrono;
  const sys_time<milliseconds> tp{milliseconds{ms}};
  const auto day = floor<days>(tp);
  const year_month_day ymd{day};
  const hh_mm_ss hms{tp - day};
  Rfc3339Text out;
  const int n = std::snprintf(out.data, sizeof out.data, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                              int(ymd.year()), unsigned(ymd.month()), unsigned(ymd.day()),
                              int(hms.hours().count()), int(hms.minutes().count()),
                              int(hms.seconds().count()), int(hms.subseconds().count()));
  out.size = n < 0 ? 0 : std::min(static_cast<std::size_t>(n), sizeof out.data - 1);
  return out;
}

std::string format_rfc3339(TimeMs ms) { return std::string(rfc3339_text(ms).view()); }

std::optional<TimeMs> parse_rfc3339(std::string_view text) {
  // date-time of RFC 3339 §5.6: YYYY-MM-DDTHH:MM:SS, an optional fraction (milliseconds are
  // kept), then Z or ±HH:MM. 't' and 'z' as the RFC allows.
  auto digits = [&](std::size_t at, std::size_t n) -> std::optional<int> {
    if (at + n > text.size()) return std::nullopt;
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      v = v * 10 + (text[i] - '0');
    }
    return v;
  };
  const auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2), h = digits(11, 2),
             mi = digits(14, 2), sec = digits(17, 2);
  if (!y || !mo || !d || !h || !mi || !sec || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't') || text[13] != ':' || text[16] != ':') {
    return std::nullopt;
  }
  std::size_t at = 19;
  int msec = 0;
  if (at < text.size() && text[at] == '.') {
    std::size_t n = 0;
    for (++at; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at, ++n) {
      if (n < 3) msec = msec * 10 + (text[at] - '0');
    }
    if (n == 0) return std::nullopt;
    for (; n < 3; ++n) msec *= 10;
  }
  int offset_minutes = 0;
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
    ++at;
  } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    const auto oh = digits(at + 1, 2), om = digits(at + 4, 2);
    if (!oh || !om || at + 3 >= text.size() || text[at + 3] != ':' || *oh > 23 || *om > 59) {
      return std::nullopt;
    }
    offset_minutes = (text[at] == '+' ? 1 : -1) * (*oh * 60 + *om);
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != text.size()) return std::nullopt;
  using namespace std::chrono;
  const year_month_day ymd{year{*y}, month{unsigned(*mo)}, day{unsigned(*d)}};
  if (!ymd.ok() || *h > 23 || *mi > 59 || *sec > 60) return std::nullopt;
  const auto tp = sys_days{ymd} + hours{*h} + minutes{*mi - offset_minutes} +
                  seconds{std::min(*sec, 59)} + milliseconds{msec};
  return duration_cast<milliseconds>(tp.time_since_epoch()).count();
}

}  // namespace parley
