#pragma once
// Percent-encoding and -decoding and query strings, for everything that reads or writes a URL: HTTP requests (api/),
// backend URLs (files/s3), RFC 5987 names (multipart uploads). Pure functions; threads: any.

#include <optional>
#include <string>
#include <string_view>

namespace parley {

// %XX escapes decoded, and '+' as a space when plus_is_space (application/x-www-form-urlencoded,
// as query strings are). nullopt for a malformed escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space = true);

// RFC 3986 percent-encoding: unreserved characters (letters, digits, -._~) as they are,
// everything else %XX (uppercase hex); '/' kept when encode_slash is false (paths). What SigV4
// signs (files/s3) and what form bodies and query strings carry (OpenID sign-in).
std::string percent_encode(std::string_view text, bool encode_slash = true);

// The value of the first `name=value` pair of a query string (without '?'), percent-decoded;
// "" for a name without '='; nullopt when absent or malformed. Anything after a '#' is ignored.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

}  // namespace parley
