#pragma once
// MembershipCache: who is in which conversation, in memory, so that authorizing a send and
// addressing its fan-out cost no database read on the hot path.
//
// Loaded from the Store on a miss; the ChatService updates it after every committed membership
// change (it is the only writer of membership on this node). Bounded: past max_entries it starts
// over, so memory stays flat however many conversations exist.
// Thread-safety: all methods from any thread; get() may block on the Store on a miss.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "chat/types.hpp"
#include "core/result.hpp"
#include "store/store.hpp"

namespace parley {

struct MemberEntry {
  chat::UserId user_id;
  chat::Role role;
};
struct MemberList {
  chat::ConvKind kind = chat::ConvKind::group;
  bool e2ee = false;  // chat::Conversation::e2ee: a send's body must be an envelope
  std::vector<MemberEntry> entries;
};
using MemberListPtr = std::shared_ptr<const MemberList>;

class MembershipCache {
 public:
  MembershipCache(Store& store, std::size_t max_entries) : store_(store), max_entries_(max_entries) {}

  // The members of conv; Errc::not_found when the conversation does not exist.
  Result<MemberListPtr> get(const chat::ConvId& conv);
  // Only the cached list, or null: never touches the Store (for use on network shards).
  MemberListPtr peek(const chat::ConvId& conv) const;
  void invalidate(const chat::ConvId& conv);

  static const MemberEntry* find(const MemberList& list, chat::UserId user);

 private:
  Store& store_;
  const std::size_t max_entries_;
  mutable std::mutex mutex_;
  std::unordered_map<chat::ConvId, MemberListPtr> entries_;
  std::uint64_t generation_ = 0;  // bumped by every invalidate()
};

}  // namespace parley
