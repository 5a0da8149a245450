#include "service/membership_cache.hpp"

namespace parley {

Result<MemberListPtr> MembershipCache::get(const chat::ConvId& conv) {
  std::uint64_t generation;
  {
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(conv); it != entries_.end()) return it->second;
    generation = generation_;
  }
  // Read outside the lock. A membership change committed while we read invalidates and bumps
  // the generation; a list read before it must then not be cached (it may be stale).
  auto exists = store_.get_conversation(conv);
  if (!exists) return exists.error();
  auto members = store_.members(conv);
  if (!members) return members.error();
  auto list = std::make_shared<MemberList>();
  list->kind = exists->kind;
  list->e2ee = exists->e2ee;
  list->entries.reserve(members->size());
  for (const auto& m : *members) list->entries.push_back({m.user_id, m.role});
  MemberListPtr result = std::move(list);
  std::lock_guard lock(mutex_);
  if (generation == generation_) {
    if (entries_.size() >= max_entries_) entries_.clear();
    entries_.emplace(conv, result);
  }
  return result;
}

MemberListPtr MembershipCache::peek(const chat::ConvId& conv) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(conv);
  return it == entries_.end() ? nullptr : it->second;
}

void MembershipCache::invalidate(const chat::ConvId& conv) {
  std::lock_guard lock(mutex_);
  entries_.erase(conv);
  ++generation_;
}

const MemberEntry* MembershipCache::find(const MemberList& list, chat::UserId user) {
  for (const auto& m : list.entries) {
    if (m.user_id == user) return &m;
  }
  return nullptr;
}

}  // namespace parley
