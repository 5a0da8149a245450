#include "auth/tokens.hpp"

#include <sodium.h>

#include <boost/json.hpp>
#include <stdexcept>

#include "auth/base64.hpp"
#include "auth/signed_json.hpp"
#include "core/ids.hpp"

namespace parley::auth {
namespace json = boost::json;
namespace {

// The only algorithm Parley issues and accepts; the header without a kid.
constexpr std::string_view kHeader = R"({"alg":"HS256","typ":"JWT"})";

Error invalid(std::string message) { return make_error(Errc::unauthenticated, std::move(message)); }

}  // namespace

TokenSigner::TokenSigner(std::string secret, std::chrono::seconds access_ttl, const Clock& clock,
                         const SigningKeys* keys)
    : secret_(std::move(secret)), keys_(keys), access_ttl_(access_ttl), clock_(clock) {
  if (secret_.size() < 32) throw std::invalid_argument("token secret must be at least 32 bytes");
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
}

std::string TokenSigner::sign(std::string_view secret, std::string_view input) {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()),
                              secret.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(input.data()),
                                input.size());
  crypto_auth_hmacsha256_final(&st, mac);
  return base64url_encode({reinterpret_cast<const char*>(mac), sizeof mac});
}

std::string TokenSigner::issue(chat::UserId user_id, std::string_view username,
                               chat::SessionId session_id) const {
  const auto now_s = clock_.now_ms() / 1000;
  const json::object claims{{"sub", std::to_string(user_id)},
                            {"name", username},
                            {"sid", session_id},
                            {"iat", now_s},
                            {"exp", now_s + access_ttl_.count()}};
  std::string header(kHeader);
  std::string secret = secret_;
  if (keys_) {
    auto key = keys_->current();
    header = json::serialize(json::object{{"alg", "HS256"}, {"kid", key.kid}, {"typ", "JWT"}});
    secret = std::move(key.secret);
  }
  std::string input = base64url_encode(header) + "." + base64url_encode(json::serialize(claims));
  auto signature = sign(secret, input);
  sodium_memzero(secret.data(), secret.size());
  return input + "." + signature;
}

Result<AccessClaims> TokenSigner::verify(std::string_view token) const {
  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == token.npos ? token.npos : token.find('.', dot1 + 1);
  if (dot2 == token.npos || token.find('.', dot2 + 1) != token.npos) {
    return invalid("token is not a JWT");
  }
  json::value header_v, claims_v;
  const auto* header = decode_json_part(token.substr(0, dot1), header_v);
  if (!header) return invalid("token header is malformed");
  const auto* alg = header->if_contains("alg");
  if (!alg || !alg->is_string() || alg->get_string() != "HS256") {
    return invalid("token algorithm is not HS256");
  }
  std::optional<std::string> secret = secret_;
  if (const auto* kid = header->if_contains("kid")) {
    if (!kid->is_string()) return invalid("token kid is not a string");
    secret = keys_ ? keys_->find(kid->get_string()) : std::nullopt;
    if (!secret) return invalid("token is signed with an unknown key");
  }
  const auto expected = sign(*secret, token.substr(0, dot2));
  sodium_memzero(secret->data(), secret->size());
  const auto given = token.substr(dot2 + 1);
  if (given.size() != expected.size() ||
      sodium_memcmp(given.data(), expected.data(), expected.size()) != 0) {
    return invalid("token signature is invalid");
  }
  const auto* claims = decode_json_part(token.substr(dot1 + 1, dot2 - dot1 - 1), claims_v);
  if (!claims) return invalid("token claims are malformed");
  const auto* sub = claims->if_contains("sub");
  const auto* name = claims->if_contains("name");
  const auto* sid = claims->if_contains("sid");
  const auto* exp = claims->if_contains("exp");
  if (!sub || !sub->is_string() || !name || !name->is_string() || !sid || !sid->is_int64() ||
      !exp || !exp->is_int64()) {
    return invalid("token claims are incomplete");
  }
  AccessClaims out;
  try {
    out.user_id = std::stoll(std::string(sub->get_string()));
  } catch (const std::exception&) {
    return invalid("token subject is not a user id");
  }
  out.username = std::string(name->get_string());
  out.session_id = sid->get_int64();
  out.expires_at = exp->get_int64() * 1000;
  if (clock_.now_ms() >= out.expires_at) return invalid("token has expired");
  return out;
}

std::string new_refresh_token() { return base64url_encode(secure_random_bytes(32)); }

std::string hash_refresh_token(std::string_view token) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(token.data()), token.size());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(sizeof digest * 2);
  for (auto b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

}  // namespace parley::auth
