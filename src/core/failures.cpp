#include "core/failures.hpp"

#include <atomic>
#include <string>

#include "core/logging.hpp"

namespace parley {

namespace {
std::atomic<std::uint64_t> noted{0};
}

void note_unexpected_exception(std::string_view where, std::exception_ptr e) {
  noted.fetch_add(1, std::memory_order_relaxed);
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(std::move(e));
  } catch (const std::exception& ex) {
    what = ex.what();
  } catch (...) {
  }
  log::error("event=unexpected_exception where={} error=\"{}\"", where, what);
}

std::uint64_t unexpected_exceptions() { return noted.load(std::memory_order_relaxed); }

}  // namespace parley
