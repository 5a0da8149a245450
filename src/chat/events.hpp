#pragma once
// Events that fan out to the online sessions of a conversation's members.
// An Envelope is immutable once published and shared by every recipient.

#include <memory>
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
// `user` is the member who was added or removed (empty for "created").
struct ConversationEvent {
  ConvId conv;
  std::string change;
  std::string user;
  std::string by;
};

using Event = std::variant<MessageEvent, ConversationEvent>;

struct Envelope {
  ConvId conv;
  std::vector<UserId> recipients;  // users whose online sessions receive the event
  Event event;
};

using EnvelopePtr = std::shared_ptr<const Envelope>;

}  // namespace parley::chat
