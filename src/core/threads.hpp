#pragma once
// Names for Parley's threads, so `top -H`, `ps -L`, perf and gdb show what each one is
// (docs/operations.md lists them). Thread-safety: names the calling thread only.

#include <string>
#include <thread>
#include <utility>

namespace parley {

// `name` is cut to the 15 characters Linux keeps.
void name_this_thread(const char* name);

// A thread that names itself `name`, then runs body.
template <class Body>
std::thread named_thread(std::string name, Body body) {
  return std::thread([name = std::move(name), body = std::move(body)]() mutable {
    name_this_thread(name.c_str());
    body();
  });
}

}  // namespace parley
