#pragma once
// MessageLog: the durable, ordered intake of sent messages (DESIGN.md §3, "send path").
//
// append() hands one message to the log; `done` is called exactly once, on a log-owned thread,
// with the stored message (its id, seq and ts) only after it is durable — or with the stored
// original, marked duplicate, when (conv, sender, client_msg_id) was seen before — or with an
// error, in which case the send was not acknowledged (and, for the cluster log, may still be
// stored later: a retry with the same client_msg_id tells). Callers post the result back to
// their own thread.
// on_sequenced runs for every newly stored message (never for a duplicate), on the node and
// thread that gave it its seq, in seq order per conversation, before that message's `done`:
// it is where message events are published, so every recipient gets them in order.
// Implementations: log/local (embedded: a group-committing writer thread over the Store);
// log/kafka (cluster: Kafka, and a sequencer in every node). Thread-safe: append from any thread.

#include <cstdint>
#include <functional>

#include "chat/types.hpp"
#include "core/result.hpp"

namespace parley {

class MessageLog {
 public:
  using Done = std::function<void(Result<chat::Appended>)>;
  using Sequenced = std::function<void(const chat::Message&)>;
  virtual ~MessageLog() = default;
  // Set once, before the first append.
  void set_on_sequenced(Sequenced on_sequenced) { on_sequenced_ = std::move(on_sequenced); }
  virtual void append(chat::NewMessage message, Done done) = 0;
  // Stops taking new messages, finishes what was accepted, then returns.
  virtual void drain() = 0;

  // For /metrics: transactions this node committed, and the messages in them (new and retried).
  virtual std::uint64_t commits() const = 0;
  virtual std::uint64_t committed_messages() const = 0;

 protected:
  // Implementations call this for each result of a commit, in order, before its `done`: it runs
  // on_sequenced for a newly stored message, and for nothing else.
  void sequenced(const Result<chat::Appended>& r) const {
    if (r && !r->duplicate && on_sequenced_) on_sequenced_(r->msg);
  }

 private:
  Sequenced on_sequenced_;
};

}  // namespace parley
