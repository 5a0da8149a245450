#pragma once
// Presence: who is online across the cluster, and when users were last seen
// (docs/architecture.md §3, "Presence and last seen").
//
// Each node counts its own sessions (PresenceTracker in service/presence.hpp: tabs, the grace
// period). The backend hears only when a user starts being online on this node and when they
// have stopped (the grace period over), and tells whether another node has them, so that the
// cluster announces each change once: online when the first node gets the user, offline when
// the last one loses them. The embedded LocalPresence has no other nodes; the cluster
// RedisPresence (presence/redis) keeps one entry per node and user in Redis, which expires unless
// heartbeat() refreshes it, so that a node that dies takes its users with it — and the
// heartbeat of one surviving node hands them back to be announced offline.
// Threads: every method may block on the network. ChatService calls arrived, left and heartbeat
// one at a time in order (its presence strand), elsewhere from the blocking pool.

#include <optional>
#include <vector>

#include "chat/types.hpp"

namespace parley {

// What the other nodes know of a user.
struct PresenceElsewhere {
  bool online = false;              // another node has a session of the user
  std::optional<TimeMs> last_seen;  // the latest time another node saw the user's last session close
};

// A user whose last node died: nobody announced them offline. last_seen: when that node was
// last heard of.
struct Abandoned {
  chat::UserId user = 0;
  TimeMs last_seen = 0;
};

class Presence {
 public:
  virtual ~Presence() = default;
  // The user is online on this node now. True when no other node had them: announce online.
  virtual bool arrived(chat::UserId user) = 0;
  // The user is gone from this node, last seen at `last_seen`. True when no other node has
  // them: announce offline.
  virtual bool left(chat::UserId user, TimeMs last_seen) = 0;
  virtual PresenceElsewhere elsewhere(chat::UserId user) = 0;
  // Every ApiOptions::presence_heartbeat, with every user online on this node (possibly none):
  // keeps their entries and this node alive. Returns the users abandoned by nodes that died
  // since, each to exactly one node of the cluster, which announces them offline.
  virtual std::vector<Abandoned> heartbeat(const std::vector<chat::UserId>& here) = 0;
};

}  // namespace parley
