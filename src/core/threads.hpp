#pragma once
// Names for Parley's threads, so `top -H`, `ps -L`, perf and gdb show what each one is
// (docs/operations.md lists them). Thread-safety: names the calling thread only.

namespace parley {

// `name` is cut to the 15 characters Linux keeps.
void name_this_thread(const char* name);

}  // namespace parley
