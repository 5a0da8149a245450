#include "service/directory.hpp"

namespace parley {

std::optional<chat::UserId> Directory::user_id(std::string_view username) const {
  std::lock_guard lock(mutex_);
  auto it = users_.find(std::string(username));
  return it == users_.end() ? std::nullopt : std::optional(it->second);
}

void Directory::remember_user(std::string_view username, chat::UserId id) {
  std::lock_guard lock(mutex_);
  if (users_.size() >= max_entries_) users_.clear();
  users_.emplace(username, id);
}

std::optional<chat::ConvId> Directory::direct(chat::UserId a, chat::UserId b) const {
  std::lock_guard lock(mutex_);
  auto it = direct_.find(key(a, b));
  return it == direct_.end() ? std::nullopt : std::optional(it->second);
}

void Directory::remember_direct(chat::UserId a, chat::UserId b, const chat::ConvId& conv) {
  std::lock_guard lock(mutex_);
  if (direct_.size() >= max_entries_) direct_.clear();
  direct_.emplace(key(a, b), conv);
}

}  // namespace parley
