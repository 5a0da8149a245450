#pragma once
// Events that fan out to the online sessions of a conversation's members.
// An Envelope is immutable once published and shared by every recipient.

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "chat/types.hpp"

namespace parley::chat {

// A new message (the `message` event).
struct MessageEvent {
  Message msg;
};

// Membership changed (the `conversation` event): change is "created", "added", "removed".
// `user` is the member who was added or removed (empty for "created"), `user_id` their id (0).
struct ConversationEvent {
  ConvId conv;
  std::string change;
  std::string user;
  std::string by;
  UserId user_id = 0;
};

// A message was edited or deleted (the `message_updated` event): msg is its new state.
struct MessageUpdatedEvent {
  Message msg;
};

// A member's receipt cursors moved (the `receipt` event).
struct ReceiptEvent {
  ConvId conv;
  std::string user;
  Seq delivered_seq = 0;
  Seq read_seq = 0;
};

// A user came online or went offline (the `presence` event).
struct PresenceEvent {
  std::string user;
  bool online = false;
  std::optional<TimeMs> last_seen;
};

// A user's devices or their keys changed in the key directory (the `devices` event): clients
// fetch the list again (docs/protocol.md §11.1).
struct DevicesEvent {
  std::string user;
};

// A member is typing (the `typing` event). Never stored.
struct TypingEvent {
  ConvId conv;
  std::string user;
};

// A login session was logged out: its live connections close (the `session` event, sent only to
// the connections of that session before they close).
struct SessionRevokedEvent {
  SessionId session_id = 0;
};

// Where a message or message_updated event stands in its conversation: what the transports
// that resume from a cursor need (api/stream_cursor.hpp), without reading the event's JSON.
struct MessagePosition {
  ConvId conv;
  Seq seq = 0;
  std::int64_t rev = 0;
  bool updated = false;  // message_updated: rev moved, not seq
};

// An event published on another node and relayed by the cluster bus: its client JSON as that
// node rendered it, and what this node must update besides delivering it.
struct RelayedEvent {
  std::string json;                // the client frame; empty for cluster-wide notices
  std::optional<MessagePosition> position;  // a message or message_updated event
  SessionId revoked_session = 0;   // a SessionRevokedEvent: refuse its tokens, close its sockets
  bool membership_changed = false;  // a ConversationEvent: drop the cached members of the conv
};

using Event = std::variant<MessageEvent, ConversationEvent, MessageUpdatedEvent, ReceiptEvent,
                           PresenceEvent, TypingEvent, SessionRevokedEvent, DevicesEvent,
                           RelayedEvent>;

// The position of a message, message_updated or relayed message event; nullopt for the rest.
inline std::optional<MessagePosition> message_position(const Event& event) {
  if (const auto* m = std::get_if<MessageEvent>(&event)) {
    return MessagePosition{m->msg.conv, m->msg.seq, m->msg.rev, false};
  }
  if (const auto* u = std::get_if<MessageUpdatedEvent>(&event)) {
    return MessagePosition{u->msg.conv, u->msg.seq, u->msg.rev, true};
  }
  if (const auto* relayed = std::get_if<RelayedEvent>(&event)) return relayed->position;
  return std::nullopt;
}

struct Envelope {
  ConvId conv;  // empty for events about a user (presence)
  // conv is a group. The cluster bus carries a group's events on the group's channel, to the
  // nodes with members of it; every other event on its recipients' own channels.
  bool group = false;
  std::vector<UserId> recipients;  // users whose online sessions receive the event
  Event event;
};

using EnvelopePtr = std::shared_ptr<const Envelope>;

}  // namespace parley::chat
