#include "api/socketio/socket_io.hpp"

#include <array>
#include <boost/json.hpp>
#include <charconv>

namespace parley::api::sio {

namespace json = boost::json;

namespace {

Error bad(std::string why) { return make_error(Errc::bad_request, std::move(why)); }

bool is_binary(PacketType t) { return t == PacketType::binary_event || t == PacketType::binary_ack; }

// The payload shapes the reference parser accepts (socket.io-parser isPayloadValid).
bool payload_valid(const Packet& p) {
  switch (p.type) {
    case PacketType::connect:
      return p.data.is_null() || p.data.is_object();
    case PacketType::disconnect:
      return p.data.is_null();
    case PacketType::connect_error:
      return p.data.is_string() || p.data.is_object();
    case PacketType::event:
    case PacketType::binary_event: {
      if (!p.data.is_array() || p.data.as_array().empty()) return false;
      const auto& name = p.data.as_array()[0];
      return name.is_number() || (name.is_string() && !is_reserved_event(name.as_string()));
    }
    case PacketType::ack:
    case PacketType::binary_ack:
      return p.data.is_array() && p.id.has_value();
  }
  return false;
}

// Every {"_placeholder":true,"num":N} in `v` has 0 <= N < count.
bool placeholders_in_range(const json::value& v, std::size_t count) {
  if (v.is_array()) {
    for (const auto& x : v.as_array()) {
      if (!placeholders_in_range(x, count)) return false;
    }
    return true;
  }
  if (!v.is_object()) return true;
  const auto& o = v.as_object();
  if (const auto* ph = o.if_contains("_placeholder"); ph && ph->is_bool() && ph->as_bool()) {
    const auto* num = o.if_contains("num");
    return num && num->is_int64() && num->as_int64() >= 0 &&
           static_cast<std::size_t>(num->as_int64()) < count;
  }
  for (const auto& [key, x] : o) {
    if (!placeholders_in_range(x, count)) return false;
  }
  return true;
}

}  // namespace

bool is_reserved_event(std::string_view name) {
  static constexpr std::array<std::string_view, 6> kReserved{
      "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"};
  for (const auto r : kReserved) {
    if (name == r) return true;
  }
  return false;
}

Result<Packet> decode(std::string_view text) {
  if (text.empty() || text[0] < '0' || text[0] > '6') return bad("unknown packet type");
  Packet p;
  p.type = static_cast<PacketType>(text[0]);
  std::size_t i = 1;
  if (is_binary(p.type)) {
    const auto dash = text.find('-', i);
    if (dash == text.npos) return bad("illegal attachments");
    std::size_t n = 0;
    const auto digits = text.substr(i, dash - i);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
      return bad("illegal attachments");
    }
    if (n > kMaxAttachments) return bad("too many attachments");
    p.attachments = n;
    i = dash + 1;
  }
  if (i < text.size() && text[i] == '/') {
    const auto comma = text.find(',', i);
    p.nsp = std::string(text.substr(i, comma == text.npos ? text.npos : comma - i));
    i = comma == text.npos ? text.size() : comma + 1;
  }
  std::size_t id_end = i;
  while (id_end < text.size() && text[id_end] >= '0' && text[id_end] <= '9') ++id_end;
  if (id_end > i) {
    std::int64_t id = 0;
    const auto [end, ec] = std::from_chars(text.data() + i, text.data() + id_end, id);
    if (ec != std::errc() || end != text.data() + id_end) return bad("invalid ack id");
    p.id = id;
    i = id_end;
  }
  if (i < text.size()) {
    boost::system::error_code ec;
    p.data = json::parse(text.substr(i), ec);
    if (ec) return bad("invalid payload");
  }
  if (!payload_valid(p)) return bad("invalid payload");
  if (is_binary(p.type) && !placeholders_in_range(p.data, p.attachments)) {
    return bad("illegal attachments");
  }
  return p;
}

std::string encode(const Packet& p) {
  std::string out(1, static_cast<char>(p.type));
  if (is_binary(p.type)) {
    out += std::to_string(p.buffers.empty() ? p.attachments : p.buffers.size());
    out.push_back('-');
  }
  if (p.nsp != "/") {
    out += p.nsp;
    out.push_back(',');
  }
  if (p.id) out += std::to_string(*p.id);
  if (!p.data.is_null()) out += json::serialize(p.data);
  return out;
}

void BinaryAssembler::begin(Packet packet) {
  packet.buffers.clear();
  pending_ = std::move(packet);
}

Result<std::optional<Packet>> BinaryAssembler::add(std::string bytes) {
  if (!pending_) return bad("a binary message with no packet waiting for it");
  pending_->buffers.push_back(std::move(bytes));
  if (pending_->buffers.size() < pending_->attachments) return std::optional<Packet>();
  std::optional<Packet> done = std::move(pending_);
  pending_.reset();
  return done;
}

}  // namespace parley::api::sio
