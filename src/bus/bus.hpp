#pragma once
// Bus: carries published events to every node that has sessions of the recipients
// (docs/operations.md, "Redis bus"). The embedded LocalBus hands them straight to this node's
// fan-out; the cluster RedisBus (bus/redis) also moves them between nodes.
// Thread-safety: publish from any thread; the sink is called on the publishing thread (local)
// or on the bus's own thread (remote), and must only hand off work.

#include <functional>
#include <string>
#include <string_view>

#include "chat/events.hpp"

namespace parley {

class Bus {
 public:
  using Sink = std::function<void(const chat::EnvelopePtr&)>;
  virtual ~Bus() = default;
  // Events published from one thread reach the sink in publication order.
  virtual void publish(chat::EnvelopePtr envelope) = 0;
  // Set once, before the first publish.
  virtual void set_sink(Sink sink) = 0;
  // This node has (watch) or no longer has (unwatch) a session of the user: a cluster bus
  // forwards the user's events here only while watched. Counted: one unwatch per watch.
  // `ready` runs once the user's events are sure to reach this node (a cluster bus: Redis has
  // confirmed the subscription, or is unreachable — then sessions are told to resync when it
  // is back), on the bus's thread or inside watch(); it must only hand off work.
  using Ready = std::function<void()>;
  virtual void watch(chat::UserId /*user*/, Ready ready) {
    if (ready) ready();
  }
  virtual void unwatch(chat::UserId) {}

  // Notes from one node to another (the cluster log's sequencer tells a send's node how it
  // ended). Best effort, like events: a note lost with Redis leaves the send unacknowledged,
  // and the client's retry with the same client_msg_id finds the stored message. A bus without
  // other nodes has nobody to send to. The sink is set once, before anything is sent, and is
  // called on the bus's thread.
  using NoteSink = std::function<void(std::string_view payload)>;
  virtual void send_to_node(const std::string& /*node*/, std::string /*payload*/) {}
  virtual void set_note_sink(NoteSink) {}

  // Stops receiving: no sink is called after it returns (shutdown, before the sinks' targets
  // are destroyed). Publishing afterwards is harmless and goes nowhere else.
  virtual void stop() {}
};

}  // namespace parley
