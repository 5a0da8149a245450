#pragma once
// The records that KafkaLog nodes exchange (every node runs the same build): a send, produced
// to the conversation's partition by the node that took it, and the owner's reply to that
// node, on the cluster bus. A message travels as a JSON object of its fields
// (chat/message_fields.hpp) by their short keys; a field that is not required is left out at
// its default, and read back as it.
//
//   send:  {"n": node, "t": token, <the NewMessage's fields>}
//   reply: {"t": token, "d": duplicate, "m": {<the Message's fields>}} or
//          {"t": token, "e": error code, "x": message}
//
// Pure functions; any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "chat/types.hpp"
#include "core/result.hpp"

namespace parley::kafka_wire {

std::string encode_send(const std::string& node, std::uint64_t token, const chat::NewMessage& m);

// The send's origin node and token, and the message; nullopt for a record Parley did not write.
struct Send {
  std::string node;
  std::uint64_t token = 0;
  chat::NewMessage msg;
};
std::optional<Send> decode_send(std::string_view payload);

std::string encode_reply(std::uint64_t token, const Result<chat::Appended>& r);
std::optional<std::pair<std::uint64_t, Result<chat::Appended>>> decode_reply(std::string_view payload);

}  // namespace parley::kafka_wire
