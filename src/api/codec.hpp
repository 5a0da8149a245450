#pragma once
// JSON on the wire (docs/protocol.md): encoders for the chat types, the error body, server
// events, and checked readers for request fields. One place decides every field name.
// Thread-safety: pure functions.

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "chat/events.hpp"
#include "chat/types.hpp"
#include "core/result.hpp"
#include "service/chat_service.hpp"

namespace parley::api {

namespace json = boost::json;

// Memory on the stack for building one request, reply or event: JSON values made with its
// storage() allocate from a buffer in the arena itself and vanish with it, so the message path
// parses a send and renders its ack and event without a heap allocation per field (bigger
// documents spill to the heap). A value that must outlive the arena is copied out first:
// json::value(v, json::storage_ptr()) — a plain copy or move keeps the arena's storage.
class JsonArena {
 public:
  JsonArena() = default;
  JsonArena(const JsonArena&) = delete;
  JsonArena& operator=(const JsonArena&) = delete;
  json::storage_ptr storage() { return &resource_; }

 private:
  unsigned char buffer_[4096];
  json::monotonic_resource resource_{buffer_, sizeof buffer_};
};

// Compact JSON text, with room reserved for a WebSocket frame header in front
// (net::text_frame(std::string&&) frames it without copying).
std::string to_text(const json::value& v);

// `storage`: where the object and its fields live (a JsonArena's, or the heap by default).
json::object message_json(const chat::Message& m, json::storage_ptr storage = {});
json::object user_json(const chat::User& u);
// A sign-in's answer: {token, refresh_token, expires_in, user} (login, refresh, OpenID).
json::object login_json(const LoginResult& r);
json::object conversation_json(const chat::Conversation& c);
json::object member_json(const chat::Member& m);
// One entry of GET /conversations and of the sync op.
json::object summary_json(const chat::ConversationSummary& s);
// {"messages":[…],"has_more":…,"receipts":[{user, delivered_seq, read_seq}…]}
json::object page_json(const chat::HistoryPage& page);
// {"conversations":[…],"left":[{conv, at}…]}
json::object sync_json(const SyncState& state);
json::object presence_json(const PresenceInfo& p);
// A device of the key directory (docs/protocol.md §11.1). claimed: as GET /keys/users/… gives it,
// with the one-time prekey handed out (or null); else as its owner sees it, with the count left.
json::object device_json(const chat::DeviceKeys& d, bool claimed);

// {"error":{"code":…,"message":…}}
std::string error_body(const Error& e);
json::object error_json(const Error& e);

// The WebSocket frame of a server event: {"ev":"message","msg":{…}} and friends.
std::string event_frame(const chat::Event& e);
// {"ev":"resync"}: events may have been missed (the cluster bus reconnected); clients run sync.
std::string resync_frame();

// Parses a request body or frame: UTF-8 is checked first (Errc::invalid_utf8), then JSON syntax
// (Errc::bad_request), then that it is an object. `storage` as for message_json.
Result<json::object> parse_object(std::string_view text, json::storage_ptr storage = {});

// Field readers. Absent or null → nullopt; present with the wrong type → Errc::bad_request.
Result<std::optional<std::string>> opt_string(const json::object& o, std::string_view key);
Result<std::string> req_string(const json::object& o, std::string_view key);
Result<std::optional<std::int64_t>> opt_int(const json::object& o, std::string_view key);
Result<std::int64_t> req_int(const json::object& o, std::string_view key);
Result<std::optional<bool>> opt_bool(const json::object& o, std::string_view key);

}  // namespace parley::api
