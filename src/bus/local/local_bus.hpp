#pragma once
// LocalBus: the embedded Bus — a direct call into this node's fan-out.
#include "bus/bus.hpp"

namespace parley {

class LocalBus final : public Bus {
 public:
  void publish(chat::EnvelopePtr envelope) override {
    if (sink_) sink_(envelope);
  }
  void set_sink(Sink sink) override { sink_ = std::move(sink); }

 private:
  Sink sink_;
};

}  // namespace parley
