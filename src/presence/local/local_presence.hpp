#pragma once
// LocalPresence: the embedded Presence — a single node, so nobody is online anywhere else.
#include "presence/presence.hpp"

namespace parley {

class LocalPresence final : public Presence {
 public:
  bool arrived(chat::UserId) override { return true; }
  bool left(chat::UserId, TimeMs) override { return true; }
  PresenceElsewhere elsewhere(chat::UserId) override { return {}; }
  std::vector<Abandoned> heartbeat(const std::vector<chat::UserId>&) override { return {}; }
};

}  // namespace parley
