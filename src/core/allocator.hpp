#pragma once
// The heap allocator this process runs on, and its tuning.
//
// Release builds of `parley` link tcmalloc (gperftools' minimal build; CMake option
// PARLEY_ALLOCATOR, docs/operations.md "Memory allocator"): on the message path one thread
// allocates what another frees (the log's completer renders an event, the shards send and free
// it), and glibc's malloc then finds the allocating thread's cache always empty and the freeing
// thread's always full — every such allocation took the slow path under an arena lock. Sanitizer
// builds keep the sanitizer's allocator. What actually serves `malloc` is found at run time, so
// an LD_PRELOADed allocator reports itself too.
// Thread-safety: allocator_name() from any thread; tune_allocator() from the main thread at
// start.

#include <string>

namespace parley {

// "tcmalloc", "glibc", or the file name of the library that defines `malloc` (a sanitizer's,
// an LD_PRELOADed one). Looked up at the first call.
const std::string& allocator_name();

// Settings for the allocator in use; glibc's only: a fixed trim threshold (see the .cpp).
void tune_allocator();

}  // namespace parley
