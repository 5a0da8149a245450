#include "api/socketio/engine_io.hpp"

#include <boost/json.hpp>

#include "auth/base64.hpp"

namespace parley::api::eio {

namespace json = boost::json;

namespace {
constexpr char kRecordSeparator = '\x1e';
}

std::optional<Packet> decode_text(std::string_view frame) {
  if (frame.empty() || frame[0] < '0' || frame[0] > '6') return std::nullopt;
  return Packet{static_cast<PacketType>(frame[0]), std::string(frame.substr(1)), false};
}

std::string encode_text(const Packet& packet) {
  std::string out;
  out.reserve(packet.data.size() + 1);
  out.push_back(static_cast<char>(packet.type));
  out += packet.data;
  return out;
}

std::optional<std::vector<Packet>> decode_payload(std::string_view body) {
  if (body.empty()) return std::nullopt;
  std::vector<Packet> packets;
  for (;;) {
    const auto end = body.find(kRecordSeparator);
    const auto record = body.substr(0, end);
    if (record.starts_with('b')) {
      auto bytes = auth::base64_decode(record.substr(1));
      if (!bytes) return std::nullopt;
      packets.push_back(Packet{PacketType::message, std::move(*bytes), true});
    } else {
      auto packet = decode_text(record);
      if (!packet) return std::nullopt;
      packets.push_back(std::move(*packet));
    }
    if (end == body.npos) break;
    body.remove_prefix(end + 1);
  }
  return packets;
}

std::string encode_payload(std::span<const Packet> packets) {
  std::string out;
  for (const auto& p : packets) {
    if (!out.empty()) out.push_back(kRecordSeparator);
    if (p.binary) {
      out.push_back('b');
      out += auth::base64_encode(p.data);
    } else {
      out.push_back(static_cast<char>(p.type));
      out += p.data;
    }
  }
  return out;
}

std::string open_packet(const OpenOptions& o) {
  json::array upgrades;
  if (o.can_upgrade) upgrades.emplace_back("websocket");
  // The reference server's key order (clients do not depend on it, but logs compare easily).
  return "0" + json::serialize(json::object{{"sid", o.sid},
                                            {"upgrades", std::move(upgrades)},
                                            {"pingInterval", o.ping_interval_ms},
                                            {"pingTimeout", o.ping_timeout_ms},
                                            {"maxPayload", o.max_payload}});
}

std::string error_body(const HandshakeError& error) {
  return json::serialize(json::object{{"code", error.code}, {"message", error.message}});
}

}  // namespace parley::api::eio
