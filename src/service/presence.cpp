#include "service/presence.hpp"

#include <algorithm>

namespace parley {

bool PresenceTracker::session_opened(chat::UserId user) {
  std::lock_guard lock(mutex_);
  auto& s = users_[user];
  ++s.sessions;
  if (s.announced_online) return false;  // back within the grace period, or another tab
  s.announced_online = true;
  return true;
}

bool PresenceTracker::session_closed(chat::UserId user, TimeMs now) {
  std::lock_guard lock(mutex_);
  auto it = users_.find(user);
  if (it == users_.end() || it->second.sessions == 0) return false;
  pending_last_seen_[user] = now;
  it->second.last_closed = now;
  return --it->second.sessions == 0;
}

std::optional<TimeMs> PresenceTracker::settle(chat::UserId user) {
  std::lock_guard lock(mutex_);
  auto it = users_.find(user);
  if (it == users_.end() || it->second.sessions > 0) return std::nullopt;
  const auto state = it->second;
  users_.erase(it);
  if (!state.announced_online) return std::nullopt;
  return state.last_closed;
}

bool PresenceTracker::online(chat::UserId user) const {
  std::lock_guard lock(mutex_);
  auto it = users_.find(user);
  return it != users_.end() && it->second.announced_online;
}

std::vector<chat::UserId> PresenceTracker::users_here() const {
  std::lock_guard lock(mutex_);
  std::vector<chat::UserId> out;
  out.reserve(users_.size());
  for (const auto& [user, state] : users_) {
    if (state.announced_online) out.push_back(user);
  }
  return out;
}

std::optional<TimeMs> PresenceTracker::pending_last_seen(chat::UserId user) const {
  std::lock_guard lock(mutex_);
  auto it = pending_last_seen_.find(user);
  return it == pending_last_seen_.end() ? std::nullopt : std::optional(it->second);
}

std::vector<std::pair<chat::UserId, TimeMs>> PresenceTracker::take_pending() {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<chat::UserId, TimeMs>> out(pending_last_seen_.begin(),
                                                  pending_last_seen_.end());
  pending_last_seen_.clear();
  return out;
}

void PresenceTracker::restore_pending(const std::vector<std::pair<chat::UserId, TimeMs>>& times) {
  std::lock_guard lock(mutex_);
  for (const auto& [user, at] : times) {
    auto& slot = pending_last_seen_[user];
    slot = std::max(slot, at);
  }
}

}  // namespace parley
