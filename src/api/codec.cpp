#include "api/codec.hpp"

#include <boost/json.hpp>

#include "core/time.hpp"
#include "core/utf8.hpp"

namespace parley::api {

using namespace chat;

// The frame header's largest size (RFC 6455 §5.2: 2 + 8 bytes of length, never masked).
constexpr std::size_t kFrameHeaderRoom = 10;

std::string to_text(const json::value& v) {
  json::serializer serializer;
  serializer.reset(&v);
  char chunk[4096];
  std::string_view part = serializer.read(chunk);
  std::string out;
  out.reserve(kFrameHeaderRoom + part.size() + (serializer.done() ? 0 : sizeof chunk));
  out.append(part);
  while (!serializer.done()) out.append(serializer.read(chunk));
  return out;
}

json::object message_json(const Message& m, json::storage_ptr storage) {
  json::object o(std::move(storage));
  o.reserve(11);
  o["id"] = m.id;
  o["conv"] = m.conv;
  o["seq"] = m.seq;
  o["from"] = m.from;
  o["body"] = m.body;
  // Stored as the JSON the server wrote (chat::Message::attachments); a tombstone shows none.
  if (m.attachments.empty() || m.deleted) {
    o["attachments"].emplace_array();
  } else {
    boost::system::error_code ec;
    auto parsed = json::parse(m.attachments, ec, o.storage());
    if (ec || !parsed.is_array()) {
      o["attachments"].emplace_array();
    } else {
      o["attachments"] = std::move(parsed);
    }
  }
  o["reply_to"] = m.reply_to ? json::value(*m.reply_to) : json::value(nullptr);
  o["client_msg_id"] = m.client_msg_id;
  o["ts"] = rfc3339_text(m.ts).view();
  // Present only on messages that were edited or deleted.
  if (m.edited_at) o["edited_at"] = rfc3339_text(*m.edited_at).view();
  if (m.deleted) {
    o["deleted"] = true;
    o["body"] = nullptr;
  }
  if (m.rev) o["rev"] = m.rev;
  return o;
}

json::object user_json(const User& u) {
  json::object o;
  o["id"] = u.id;
  o["username"] = u.username;
  o["name"] = u.name;
  o["created_at"] = format_rfc3339(u.created_at);
  o["last_seen"] = u.last_seen_at ? json::value(format_rfc3339(*u.last_seen_at))
                                  : json::value(nullptr);
  auto or_null = [](const std::string& text) {
    return text.empty() ? json::value(nullptr) : json::value(text);
  };
  o["email"] = or_null(u.email);
  o["image"] = or_null(u.image);
  o["provider"] = u.provider;
  o["oauth_id"] = or_null(u.oauth_id);
  return o;
}

json::object login_json(const LoginResult& r) {
  return json::object{{"token", r.access_token},
                      {"refresh_token", r.refresh_token},
                      {"expires_in", r.expires_in},
                      {"user", user_json(r.user)}};
}

json::object conversation_json(const Conversation& c) {
  json::object o;
  o["id"] = c.id;
  o["kind"] = to_string(c.kind);
  o["name"] = c.title;
  o["has_passcode"] = !c.passcode_hash.empty();
  o["created_at"] = format_rfc3339(c.created_at);
  o["last_seq"] = c.last_seq;
  o["e2ee"] = c.e2ee;
  return o;
}

json::object member_json(const Member& m) {
  json::object o;
  o["username"] = m.username;
  o["role"] = to_string(m.role);
  o["joined_at"] = format_rfc3339(m.joined_at);
  o["delivered_seq"] = m.delivered_seq;
  o["read_seq"] = m.read_seq;
  return o;
}

json::object device_json(const DeviceKeys& d, bool claimed) {
  json::object o;
  o["device"] = d.device;
  o["identity_key"] = d.identity_key;
  o["dh_key"] = d.dh_key;
  o["dh_signature"] = d.dh_signature;
  o["signed_prekey"] = json::object{{"id", d.signed_prekey_id},
                                    {"key", d.signed_prekey},
                                    {"signature", d.signed_prekey_signature}};
  o["created_at"] = format_rfc3339(d.created_at);
  if (claimed) {
    o["one_time_prekey"] = d.one_time_prekey ? json::value(json::object{{"id", d.one_time_prekey->id},
                                                                        {"key", d.one_time_prekey->key}})
                                             : json::value(nullptr);
  } else {
    o["one_time_prekeys"] = d.one_time_prekeys;
  }
  return o;
}

json::object summary_json(const ConversationSummary& s) {
  json::object o;
  o["conv"] = s.conversation.id;
  o["kind"] = to_string(s.conversation.kind);
  o["name"] = s.conversation.kind == ConvKind::direct ? s.peer : s.conversation.title;
  if (s.conversation.kind == ConvKind::direct) o["peer"] = s.peer;
  o["role"] = to_string(s.role);
  o["e2ee"] = s.conversation.e2ee;
  o["last_seq"] = s.conversation.last_seq;
  o["last_rev"] = s.conversation.last_rev;
  o["read_seq"] = s.read_seq;
  o["delivered_seq"] = s.delivered_seq;
  o["unread"] = s.unread;
  o["last_message"] = s.last_message ? json::value(message_json(*s.last_message))
                                     : json::value(nullptr);
  return o;
}

json::object page_json(const HistoryPage& page) {
  json::array messages;
  messages.reserve(page.messages.size());
  for (const auto& m : page.messages) messages.push_back(message_json(m));
  json::array receipts;
  receipts.reserve(page.receipts.size());
  for (const auto& m : page.receipts) {
    receipts.push_back(json::object{{"user", m.username},
                                    {"delivered_seq", m.delivered_seq},
                                    {"read_seq", m.read_seq}});
  }
  return json::object{{"messages", std::move(messages)},
                      {"has_more", page.has_more},
                      {"receipts", std::move(receipts)}};
}

json::object sync_json(const SyncState& state) {
  json::array conversations;
  for (const auto& s : state.conversations) conversations.push_back(summary_json(s));
  json::array left;
  for (const auto& d : state.left) {
    left.push_back(json::object{{"conv", d.conv}, {"at", format_rfc3339(d.at)}});
  }
  return json::object{{"conversations", std::move(conversations)}, {"left", std::move(left)}};
}

json::object presence_json(const PresenceInfo& p) {
  return json::object{
      {"user", p.username},
      {"online", p.online},
      {"last_seen", p.last_seen ? json::value(format_rfc3339(*p.last_seen)) : json::value(nullptr)}};
}

json::object error_json(const Error& e) {
  json::object o{{"code", errc_code(e.code)}, {"message", e.message}};
  for (const auto& [name, value] : e.details) o[name] = value;
  return o;
}

std::string error_body(const Error& e) {
  return json::serialize(json::object{{"error", error_json(e)}});
}

std::string event_frame(const Event& e) {
  // Message events are the hot path: built in an arena, the message's object moved in, not
  // copied (an initializer list copies its elements).
  if (const auto* m = std::get_if<MessageEvent>(&e)) {
    JsonArena arena;
    json::object o(arena.storage());
    o.reserve(2);
    o["ev"] = "message";
    o["msg"] = message_json(m->msg, arena.storage());
    return to_text(o);
  }
  struct Visitor {
    json::object operator()(const MessageEvent&) const { return {}; }  // handled above
    json::object operator()(const ConversationEvent& c) const {
      json::object o{{"ev", "conversation"}, {"conv", c.conv}, {"change", c.change}};
      if (!c.user.empty()) o["user"] = c.user;
      if (!c.by.empty()) o["by"] = c.by;
      return o;
    }
    json::object operator()(const MessageUpdatedEvent& m) const {
      return json::object{{"ev", "message_updated"}, {"msg", message_json(m.msg)}};
    }
    json::object operator()(const ReceiptEvent& r) const {
      return json::object{{"ev", "receipt"},
                          {"conv", r.conv},
                          {"user", r.user},
                          {"delivered_seq", r.delivered_seq},
                          {"read_seq", r.read_seq}};
    }
    json::object operator()(const PresenceEvent& p) const {
      return json::object{{"ev", "presence"},
                          {"user", p.user},
                          {"online", p.online},
                          {"last_seen", p.last_seen ? json::value(format_rfc3339(*p.last_seen))
                                                    : json::value(nullptr)}};
    }
    json::object operator()(const DevicesEvent& d) const {
      return json::object{{"ev", "devices"}, {"user", d.user}};
    }
    json::object operator()(const TypingEvent& t) const {
      return json::object{{"ev", "typing"}, {"conv", t.conv}, {"user", t.user}};
    }
    json::object operator()(const SessionRevokedEvent&) const {
      return json::object{{"ev", "session"}, {"change", "revoked"}};
    }
    json::object operator()(const RelayedEvent&) const { return {}; }  // handled below
  };
  // Relayed from another node: already rendered there, passed on byte for byte.
  if (const auto* relayed = std::get_if<RelayedEvent>(&e)) return relayed->json;
  return to_text(std::visit(Visitor{}, e));
}

std::string resync_frame() { return json::serialize(json::object{{"ev", "resync"}}); }

Result<json::object> parse_object(std::string_view text, json::storage_ptr storage) {
  if (!is_valid_utf8(text)) return make_error(Errc::invalid_utf8, "request is not valid UTF-8");
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 16;  // requests are shallow; deep nesting is an attack
  json::value v = json::parse(text, ec, std::move(storage), options);
  if (ec) return make_error(Errc::bad_request, "malformed JSON: " + ec.message());
  if (!v.is_object()) return make_error(Errc::bad_request, "expected a JSON object");
  return std::move(v.get_object());
}

Result<std::optional<std::string>> opt_string(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return std::optional<std::string>();
  if (!v->is_string()) {
    return make_error(Errc::bad_request, "'" + std::string(key) + "' must be a string");
  }
  return std::optional<std::string>(std::string(v->get_string()));
}

Result<std::string> req_string(const json::object& o, std::string_view key) {
  auto s = opt_string(o, key);
  if (!s) return s.error();
  if (!*s) return make_error(Errc::bad_request, "'" + std::string(key) + "' is required");
  return std::move(**s);
}

Result<std::optional<std::int64_t>> opt_int(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return std::optional<std::int64_t>();
  if (v->is_int64()) return std::optional<std::int64_t>(v->get_int64());
  if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return std::optional<std::int64_t>(static_cast<std::int64_t>(v->get_uint64()));
  }
  return make_error(Errc::bad_request, "'" + std::string(key) + "' must be an integer");
}

Result<std::optional<bool>> opt_bool(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return std::optional<bool>();
  if (v->is_bool()) return std::optional<bool>(v->get_bool());
  return make_error(Errc::bad_request, "'" + std::string(key) + "' must be true or false");
}

Result<std::int64_t> req_int(const json::object& o, std::string_view key) {
  auto v = opt_int(o, key);
  if (!v) return v.error();
  if (!*v) return make_error(Errc::bad_request, "'" + std::string(key) + "' is required");
  return **v;
}

}  // namespace parley::api
