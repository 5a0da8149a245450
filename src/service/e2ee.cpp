#include "service/e2ee.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <string>

#include "auth/base64.hpp"

namespace parley::e2ee {

namespace json = boost::json;

namespace {

Error bad_field(std::string_view where, std::string_view field, std::string_view what) {
  return make_error(Errc::bad_request,
                    "envelope " + std::string(where) + "'" + std::string(field) + "' " +
                        std::string(what));
}

// A required string field of `o` passing `valid`, else the error naming it.
template <class Valid>
Status string_field(const json::object& o, std::string_view where, std::string_view field,
                    std::string_view what, Valid valid) {
  const auto* v = o.if_contains(field);
  if (!v) return bad_field(where, field, "is required");
  if (!v->is_string() || !valid(std::string_view(v->get_string()))) {
    return bad_field(where, field, what);
  }
  return ok_status();
}

Status positive_id(const json::object& o, std::string_view where, std::string_view field,
                   bool required) {
  const auto* v = o.if_contains(field);
  if (!v) return required ? bad_field(where, field, "is required") : ok_status();
  if (!v->is_int64() || v->get_int64() < 1) return bad_field(where, field, "must be an integer >= 1");
  return ok_status();
}

// Every field of `o` is one of `known`.
Status only(const json::object& o, std::string_view where,
            std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : o) {
    bool found = false;
    for (auto k : known) found = found || k == std::string_view(key);
    if (!found) return bad_field(where, std::string_view(key), "is not an envelope field");
  }
  return ok_status();
}

auto bytes(std::size_t n, bool at_least = false) {
  return [=](std::string_view text) { return is_base64url_of(text, n, at_least); };
}
auto name() {
  return [](std::string_view text) { return is_valid_name(text); };
}
auto nonempty() {
  return [](std::string_view text) { return !text.empty() && text.size() <= 64; };
}

Status check_key_box(const json::value& box) {
  if (!box.is_object()) return make_error(Errc::bad_request, "envelope 'keys' must hold objects");
  const auto& o = box.get_object();
  constexpr std::string_view kIn = "key box ";
  if (auto s = only(o, kIn, {"user", "device", "spk", "opk", "ek", "nonce", "ct"}); !s) return s;
  if (auto s = string_field(o, kIn, "user", "must be a username", nonempty()); !s) return s;
  if (auto s = string_field(o, kIn, "device", "must be a device name", name()); !s) return s;
  if (auto s = positive_id(o, kIn, "spk", true); !s) return s;
  if (auto s = positive_id(o, kIn, "opk", false); !s) return s;
  if (auto s = string_field(o, kIn, "ek", "must be 32 bytes in base64url", bytes(32)); !s) return s;
  if (auto s = string_field(o, kIn, "nonce", "must be 24 bytes in base64url", bytes(24)); !s) return s;
  return string_field(o, kIn, "ct", "must be at least 16 bytes in base64url", bytes(16, true));
}

}  // namespace

bool is_valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool is_base64url_of(std::string_view text, std::size_t bytes, bool at_least) {
  auto decoded = auth::base64url_decode(text);
  if (!decoded) return false;
  return at_least ? decoded->size() >= bytes : decoded->size() == bytes;
}

Status check_envelope(std::string_view body, std::size_t max_bytes) {
  if (body.size() > max_bytes) {
    return make_error(Errc::too_large,
                      "envelope is longer than " + std::to_string(max_bytes) + " bytes");
  }
  std::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (ec || !parsed.is_object() || !parsed.get_object().contains("v")) {
    return make_error(Errc::e2ee_required,
                      "this conversation is end-to-end encrypted: the body must be an envelope "
                      "(docs/protocol.md §11.2)");
  }
  const auto& o = parsed.get_object();
  constexpr std::string_view kIn = "";
  if (auto s = only(o, kIn, {"v", "device", "key", "nonce", "ct", "sig", "keys"}); !s) return s;
  if (const auto& v = o.at("v"); !v.is_int64() || v.get_int64() != 1) {
    return bad_field(kIn, "v", "must be 1 (the only version)");
  }
  if (auto s = string_field(o, kIn, "device", "must be a device name", name()); !s) return s;
  if (auto s = string_field(o, kIn, "key", "must be a sender-key id", name()); !s) return s;
  if (auto s = string_field(o, kIn, "nonce", "must be 24 bytes in base64url", bytes(24)); !s) return s;
  if (auto s = string_field(o, kIn, "ct", "must be at least 16 bytes in base64url", bytes(16, true));
      !s) {
    return s;
  }
  if (auto s = string_field(o, kIn, "sig", "must be 64 bytes in base64url", bytes(64)); !s) return s;
  if (const auto* keys = o.if_contains("keys")) {
    if (!keys->is_array()) return bad_field(kIn, "keys", "must be an array of key boxes");
    if (keys->get_array().size() > kMaxKeyBoxes) {
      return bad_field(kIn, "keys", "holds more than " + std::to_string(kMaxKeyBoxes) + " key boxes");
    }
    for (const auto& box : keys->get_array()) {
      if (auto s = check_key_box(box); !s) return s;
    }
  }
  return ok_status();
}

}  // namespace parley::e2ee
