#pragma once
// PresenceTracker: who is online on this node, multi-tab aware, and the last-seen times not yet
// written to the store.
//
// A user is online from their first session until their last one closes and stays closed for a
// grace period; a reconnect within the grace period (a page reload, a flaky network) changes
// nothing anyone sees. Last-seen times are kept here and written in batches (flush), never one
// database write per connect or disconnect. Other nodes' sessions are the Presence backend's
// business (presence/presence.hpp).
// Thread-safety: every method from any thread.

#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "chat/types.hpp"

namespace parley {

class PresenceTracker {
 public:
  // A session opened. True when the user must be announced online (they were offline).
  bool session_opened(chat::UserId user);
  // A session closed at `now`. True when it was the user's last one: call settle() after the
  // grace period.
  bool session_closed(chat::UserId user, TimeMs now);
  // After the grace period: when the user must now be announced offline, the time they were
  // last seen (their last session's close).
  std::optional<TimeMs> settle(chat::UserId user);

  bool online(chat::UserId user) const;
  // Every user online here (sessions open, or within the grace period).
  std::vector<chat::UserId> users_here() const;
  // The last-seen time recorded here and not yet flushed, if any.
  std::optional<TimeMs> pending_last_seen(chat::UserId user) const;
  // Takes the pending last-seen times (to write them to the store).
  std::vector<std::pair<chat::UserId, TimeMs>> take_pending();
  // Puts back times whose write failed, or adds those another node could not write (a newer
  // time recorded meanwhile wins).
  void restore_pending(const std::vector<std::pair<chat::UserId, TimeMs>>& times);

 private:
  struct State {
    int sessions = 0;
    bool announced_online = false;
    TimeMs last_closed = 0;
  };
  mutable std::mutex mutex_;
  std::unordered_map<chat::UserId, State> users_;
  std::unordered_map<chat::UserId, TimeMs> pending_last_seen_;
};

}  // namespace parley
