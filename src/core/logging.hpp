#pragma once
// Structured logs: one line per event, `key=value` pairs after the level, on stderr.
//   2026-11-21T08:00:00.123Z info event=http conn=7 method=POST path=/auth/login status=200 us=812
// Never log bodies, tokens or passwords: paths are logged without their query string.
// Thread-safety: spdlog's default logger is thread-safe; call init_logging once at start-up.

#include <spdlog/spdlog.h>

#include <string_view>

namespace parley {

// level: trace, debug, info, warn, error, off. Throws std::invalid_argument on an unknown level.
void init_logging(std::string_view level);

namespace log = spdlog;

}  // namespace parley
