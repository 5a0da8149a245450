#pragma once
// The fields of a message, listed once. Every format that carries a whole message between
// Parley's own parts is a visitor of this list: the journal record (store/sqlite/inbox.cpp) and
// the node-to-node wire on Kafka (log/kafka/kafka_log.cpp). A field added here is written and
// read by both, with no encoder to edit; a type they do not know yet fails to compile there,
// which is where its encoding goes.
//
// What is not generated, and why (docs/architecture.md, "How to add a message field"):
// - The client JSON (api/codec.cpp) is a public contract (docs/protocol.md): each field's
//   name and rendering there (times as RFC 3339, a tombstone without its body) is a decision.
// - The SQL stores keep one column per field, for queries and indexes: a migration and the
//   column in each store's row mapping.
//
// Each field has a stable tag (the journal's, never reused: a record written by an older build
// must read back) and a short key (the Kafka wire's). Most fields exist already in a NewMessage,
// before the log sequences it; seq and the edit fields only in a stored Message.

#include <cstdint>
#include <string_view>
#include <type_traits>

#include "chat/types.hpp"

namespace parley::chat {

struct MessageField {
  std::uint8_t tag;      // 1..255, unique, stable
  std::string_view key;  // short wire key, unique
  bool required;         // a reader refuses a record without it
};

// Calls visit(field, member) for each field of `m`, a Message or NewMessage (const or not), in
// tag order.
template <class M, class Visit>
void for_each_field(M& m, Visit&& visit) {
  using Plain = std::remove_const_t<M>;
  static_assert(std::is_same_v<Plain, Message> || std::is_same_v<Plain, NewMessage>);
  constexpr bool stored = std::is_same_v<Plain, Message>;
  // A NewMessage's id and ts are given before the log (older builds gave them in the writer).
  visit(MessageField{1, "id", stored}, m.id);
  visit(MessageField{2, "c", true}, m.conv);
  if constexpr (stored) visit(MessageField{3, "q", true}, m.seq);
  visit(MessageField{4, "s", true}, m.sender_id);
  visit(MessageField{5, "f", true}, m.from);
  visit(MessageField{6, "k", true}, m.client_msg_id);
  visit(MessageField{7, "b", true}, m.body);
  visit(MessageField{8, "r", false}, m.reply_to);
  visit(MessageField{9, "ts", stored}, m.ts);
  if constexpr (stored) {
    visit(MessageField{10, "ed", false}, m.edited_at);
    visit(MessageField{11, "del", false}, m.deleted);
    visit(MessageField{12, "rev", false}, m.rev);
  }
  visit(MessageField{13, "a", false}, m.attachments);
}

}  // namespace parley::chat
