#pragma once
// A Bus that records every published envelope, for tests of what the service publishes.
#include <mutex>
#include <vector>

#include "bus/bus.hpp"

namespace parley::testing {

class RecordingBus final : public Bus {
 public:
  void publish(chat::EnvelopePtr envelope) override {
    std::lock_guard lock(mutex_);
    published_.push_back(std::move(envelope));
  }
  void set_sink(Sink) override {}
  std::vector<chat::EnvelopePtr> published() const {
    std::lock_guard lock(mutex_);
    return published_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<chat::EnvelopePtr> published_;
};

}  // namespace parley::testing
