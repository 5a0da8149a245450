#include "log/kafka/kafka_wire.hpp"

#include <boost/json.hpp>
#include <stdexcept>

#include "chat/message_fields.hpp"

namespace parley::kafka_wire {

namespace json = boost::json;
using namespace chat;

namespace {

struct FieldWriter {
  json::object& o;
  void operator()(const MessageField& f, const std::string& v) const {
    if (f.required || !v.empty()) o[f.key] = v;
  }
  void operator()(const MessageField& f, std::int64_t v) const {
    if (f.required || v != 0) o[f.key] = v;
  }
  void operator()(const MessageField& f, bool v) const {
    if (f.required || v) o[f.key] = v;
  }
  void operator()(const MessageField& f, const std::optional<std::int64_t>& v) const {
    if (v) o[f.key] = *v;
  }
};

// Throws when a required field is missing or a field has the wrong type.
struct FieldReader {
  const json::object& o;
  template <class T>
  void operator()(const MessageField& f, T& member) const {
    const auto* v = o.if_contains(f.key);
    if (!v) {
      if (f.required) throw std::runtime_error("missing field " + std::string(f.key));
      return;
    }
    member = json::value_to<T>(*v);
  }
};

template <class M>
json::object message_json(const M& m) {
  json::object o;
  for_each_field(m, FieldWriter{o});
  return o;
}

}  // namespace

// The message's fields beside "n" (the node) and "t" (its token): no key is shared.
std::string encode_send(const std::string& node, std::uint64_t token, const NewMessage& m) {
  json::object o{{"n", node}, {"t", token}};
  for_each_field(m, FieldWriter{o});
  return json::serialize(o);
}

std::optional<Send> decode_send(std::string_view payload) {
  boost::system::error_code ec;
  auto v = json::parse(payload, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.get_object();
  try {
    Send s;
    s.node = json::value_to<std::string>(o.at("n"));
    s.token = json::value_to<std::uint64_t>(o.at("t"));
    for_each_field(s.msg, FieldReader{o});
    return s;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string encode_reply(std::uint64_t token, const Result<Appended>& r) {
  json::object o{{"t", token}};
  if (!r) {
    o["e"] = errc_code(r.error().code);
    o["x"] = r.error().message;
    return json::serialize(o);
  }
  o["d"] = r->duplicate;
  o["m"] = message_json(r->msg);
  return json::serialize(o);
}

std::optional<std::pair<std::uint64_t, Result<Appended>>> decode_reply(std::string_view payload) {
  boost::system::error_code ec;
  auto v = json::parse(payload, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.get_object();
  try {
    const auto token = json::value_to<std::uint64_t>(o.at("t"));
    if (const auto* e = o.if_contains("e")) {
      return std::pair{token, Result<Appended>(make_error(
                                  errc_from_code(e->as_string()),
                                  json::value_to<std::string>(o.at("x"))))};
    }
    Message m;
    for_each_field(m, FieldReader{o.at("m").as_object()});
    return std::pair{token, Result<Appended>(Appended{std::move(m), o.at("d").as_bool()})};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace parley::kafka_wire
