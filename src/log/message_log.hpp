#pragma once
// MessageLog: the durable, ordered intake of sent messages (DESIGN.md §3, "send path").
//
// append() hands one message to the log; `done` is called exactly once, on a log-owned thread,
// with the stored message (its id, seq and ts) only after it is durable — or with the stored
// original, marked duplicate, when (conv, sender, client_msg_id) was seen before — or with an
// error, in which case nothing was stored. Completions of one conversation run in seq order. Callers post the result
// back to their own thread.
// Implementations: log/local (embedded: a group-committing writer thread over the Store);
// log/kafka (cluster, later). Thread-safe: append from any thread.

#include <functional>

#include "chat/types.hpp"
#include "core/result.hpp"

namespace parley {

class MessageLog {
 public:
  using Done = std::function<void(Result<chat::Appended>)>;
  virtual ~MessageLog() = default;
  virtual void append(chat::NewMessage message, Done done) = 0;
  // Stops taking new messages, finishes what was accepted, then returns.
  virtual void drain() = 0;
};

}  // namespace parley
