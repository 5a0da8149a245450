#pragma once
// Unexpected exceptions: what escaped a coroutine, a request handler or a blocking task. Expected
// failures are Result values (core/result.hpp); an exception on the message path is a bug, and
// it must never vanish: every place that catches one reports it here, which logs one line
//   event=unexpected_exception where=http_handler error="…"
// and counts it (parley_unexpected_exceptions_total in /metrics).
//
// Every asio::co_spawn gets log_failure("where") as its completion handler instead of
// asio::detached, which swallows what the coroutine threw.
// Thread-safety: callable from any thread.

#include <cstdint>
#include <exception>
#include <string_view>

namespace parley {

void note_unexpected_exception(std::string_view where, std::exception_ptr e);
// How many were noted since the process started.
std::uint64_t unexpected_exceptions();

// A co_spawn completion handler: logs and counts an exception, ignores normal completion.
struct LogFailure {
  std::string_view where;
  void operator()(std::exception_ptr e) const {
    if (e) note_unexpected_exception(where, std::move(e));
  }
};
inline LogFailure log_failure(std::string_view where) { return LogFailure{where}; }

}  // namespace parley
