#pragma once
// JSON objects carried as text: base64url (RFC 4648 §5) of the JSON, as the parts of a JWT are
// (auth/tokens.hpp, auth/oidc/id_token.hpp), and — with an HMAC-SHA-256 after a dot — the values
// Parley hands a client to bring back unchanged: the OpenID sign-in's state cookie
// (service/oidc_sign_in.hpp) and a login's second-factor challenge (service/chat_service.hpp).
// Signed, not encrypted: the client can read what it carries.
//
// Threads: any; pure functions.

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace parley::auth {

// The object that base64url text holds, parsed into storage (at most 8 levels deep: these are
// flat); null when the text is not base64url of a JSON object.
const boost::json::object* decode_json_part(std::string_view b64, boost::json::value& storage);

// base64url(JSON of claims) "." base64url(HMAC-SHA-256 of that under key).
std::string sign_json(std::string_view key, const boost::json::object& claims);
// The claims of a sign_json text made with key (the MAC compared in constant time); nullopt for
// anything else, or a text longer than max_size.
std::optional<boost::json::object> open_signed_json(std::string_view key, std::string_view text,
                                                    std::size_t max_size = 4096);

}  // namespace parley::auth
