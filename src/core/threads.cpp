#include "core/threads.hpp"

#include <pthread.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace parley {

void name_this_thread(const char* name) {
  constexpr std::size_t kMax = 15;  // the kernel's TASK_COMM_LEN less the terminator
  const std::string cut(name, std::min(std::strlen(name), kMax));
  pthread_setname_np(pthread_self(), cut.c_str());
}

}  // namespace parley
