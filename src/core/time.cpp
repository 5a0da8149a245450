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
  // Accepts exactly the form format_rfc3339 writes.
  if (text.size() != 24 || text[4] != '-' || text[7] != '-' || text[10] != 'T' ||
      text[13] != ':' || text[16] != ':' || text[19] != '.' || text[23] != 'Z') {
    return std::nullopt;
  }
  int y, mo, d, h, mi, s, msec;
  std::string copy(text);
  if (std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &y, &mo, &d, &h, &mi, &s, &msec) !=
      7) {
    return std::nullopt;
  }
  using namespace std::chrono;
  const year_month_day ymd{year{y}, month{unsigned(mo)}, day{unsigned(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 59) return std::nullopt;
  const auto tp = sys_days{ymd} + hours{h} + minutes{mi} + seconds{s} + milliseconds{msec};
  return duration_cast<milliseconds>(tp.time_since_epoch()).count();
}

}  // namespace parley
