#include "auth/signed_json.hpp"

#include <boost/json.hpp>

#include "auth/base64.hpp"
#include "auth/digest.hpp"

namespace parley::auth {

namespace json = boost::json;

const json::object* decode_json_part(std::string_view b64, json::value& storage) {
  const auto raw = base64url_decode(b64);
  if (!raw) return nullptr;
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 8;
  storage = json::parse(*raw, ec, {}, options);
  if (ec) return nullptr;
  return storage.if_object();
}

std::string sign_json(std::string_view key, const json::object& claims) {
  const auto payload = base64url_encode(json::serialize(claims));
  return payload + "." + hmac_sha256(key, payload);
}

std::optional<json::object> open_signed_json(std::string_view key, std::string_view text,
                                             std::size_t max_size) {
  const auto dot = text.find('.');
  if (dot == std::string_view::npos || text.size() > max_size ||
      !constant_time_equal(hmac_sha256(key, text.substr(0, dot)), text.substr(dot + 1))) {
    return std::nullopt;
  }
  json::value storage;
  const auto* claims = decode_json_part(text.substr(0, dot), storage);
  if (!claims) return std::nullopt;
  return *claims;
}

}  // namespace parley::auth
