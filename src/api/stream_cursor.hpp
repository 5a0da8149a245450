#pragma once
// Stream cursors: where an SSE stream or a long-poll client stands in the caller's
// conversations, so that a reconnect replays exactly what it missed (docs/protocol.md,
// "Server-sent events"; docs/architecture.md, "Event streams").
//
// A position is, per conversation, the highest message seq delivered and the highest rev (edit or
// delete) delivered. A cursor is the position of every conversation, written compactly: up to
// kInlineEntries conversations inline; beyond that, a base (a whole position saved on this node,
// CursorBases) plus the conversations that moved since it. A conversation a cursor does not name
// was joined after it: the stream starts it at the member's joined_seq.
//
// Encoded as base64url of: version byte, varint user id, varint base id (0: none), varint count,
// then per conversation its 16-byte UUID, varint seq, varint rev. Opaque to clients.
//
// Threads: StreamPosition is one session's (its shard); CursorBases is thread-safe.

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "chat/types.hpp"

namespace parley::api {

struct ConvPosition {
  chat::Seq seq = 0;
  std::int64_t rev = 0;
  bool operator==(const ConvPosition&) const = default;
};
using Positions = std::map<chat::ConvId, ConvPosition>;

struct DecodedCursor {
  chat::UserId user = 0;
  std::uint64_t base = 0;  // 0: none, `entries` is the whole position
  Positions entries;
};

inline constexpr std::size_t kInlineEntries = 16;

std::string encode_cursor(const DecodedCursor& cursor);
// nullopt for anything that is not a cursor this server wrote.
std::optional<DecodedCursor> decode_cursor(std::string_view text);

// Whole positions saved on this node, for cursors too long to carry inline. Bounded: the oldest
// are forgotten first, and a cursor whose base is gone (or was saved on another node) gets a
// resync instead of a replay.
class CursorBases {
 public:
  explicit CursorBases(std::size_t max_entries = 20'000);
  CursorBases(const CursorBases&) = delete;
  CursorBases& operator=(const CursorBases&) = delete;
  std::uint64_t save(chat::UserId user, Positions positions);
  std::optional<Positions> load(chat::UserId user, std::uint64_t id) const;
  std::size_t size() const;

 private:
  struct Base {
    chat::UserId user;
    Positions positions;
  };
  const std::size_t max_entries_;
  mutable std::mutex mutex_;
  std::uint64_t salt_;  // ids are not guessable, and differ between nodes and restarts
  std::uint64_t next_ = 1;
  std::unordered_map<std::uint64_t, Base> bases_;  // guarded by mutex_
  std::deque<std::uint64_t> order_;                // oldest first
};

// One session's position and the cursor that names it.
class StreamPosition {
 public:
  StreamPosition(chat::UserId user, CursorBases& bases) : user_(user), bases_(bases) {}
  // Starts from a whole position (every conversation of the caller).
  void reset(Positions positions);
  // The position of conv; `joined` if the session has none for it yet.
  ConvPosition at(const chat::ConvId& conv, chat::Seq joined = 0) const;
  // A message (updated = false) or an edit/delete moved conv.
  void advance(const chat::ConvId& conv, chat::Seq seq, std::int64_t rev);
  // The cursor of the position now (rebasing when the changes outgrew kInlineEntries).
  std::string cursor();
  const Positions& positions() const { return positions_; }

 private:
  chat::UserId user_;
  CursorBases& bases_;
  Positions positions_;
  std::uint64_t base_id_ = 0;
  Positions base_;  // positions_ at base_id_
  std::optional<std::string> cached_;  // cursor() of the unchanged position
};

}  // namespace parley::api
