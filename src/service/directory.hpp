#pragma once
// Directory: facts that never change once true, kept in memory so that the send path can run on
// a network shard without touching the Store: a username's user id (usernames are never
// reassigned) and the direct conversation of a pair of users (a pair has one, forever). Entries
// therefore need no invalidation, only a size bound (past it the directory starts over).
// Thread-safety: every method from any thread.

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "chat/types.hpp"

namespace parley {

class Directory {
 public:
  explicit Directory(std::size_t max_entries) : max_entries_(max_entries) {}

  std::optional<chat::UserId> user_id(std::string_view username) const;
  void remember_user(std::string_view username, chat::UserId id);

  std::optional<chat::ConvId> direct(chat::UserId a, chat::UserId b) const;
  void remember_direct(chat::UserId a, chat::UserId b, const chat::ConvId& conv);

 private:
  struct PairHash {
    std::size_t operator()(const std::pair<chat::UserId, chat::UserId>& p) const {
      return std::hash<chat::UserId>()(p.first) * 31 + std::hash<chat::UserId>()(p.second);
    }
  };
  static std::pair<chat::UserId, chat::UserId> key(chat::UserId a, chat::UserId b) {
    return a < b ? std::pair{a, b} : std::pair{b, a};
  }

  const std::size_t max_entries_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, chat::UserId> users_;
  std::unordered_map<std::pair<chat::UserId, chat::UserId>, chat::ConvId, PairHash> direct_;
};

}  // namespace parley
