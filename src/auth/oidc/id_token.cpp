#include "auth/oidc/id_token.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <boost/json.hpp>
#include <stdexcept>

#include "auth/base64.hpp"
#include "auth/signed_json.hpp"

namespace parley::auth::oidc {

namespace json = boost::json;

namespace {

Error refused(std::string why) {
  return make_error(Errc::unauthenticated, "ID token refused: " + std::move(why));
}

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// A public key from OpenSSL parameters of `type` ("RSA", "EC"); null when they are not one.
Pkey key_from(const char* type, OSSL_PARAM_BLD* build) {
  Pkey out;
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(build);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* key = nullptr;
  if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
      EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) == 1) {
    out.reset(key);
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  return out;
}

std::optional<std::string> field_bytes(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  if (!v || !v->is_string()) return std::nullopt;
  return base64url_decode(v->get_string());
}

std::string text_of(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// A NumericDate claim in ms, or nullopt.
std::optional<TimeMs> date_of(const json::object& claims, std::string_view name) {
  const auto* v = claims.if_contains(name);
  if (!v) return std::nullopt;
  constexpr std::int64_t kMaxSeconds = 1ll << 40;  // beyond any real date; no overflow in ms
  if (v->is_int64() && v->get_int64() >= 0 && v->get_int64() < kMaxSeconds) {
    return v->get_int64() * 1000;
  }
  if (v->is_uint64() && v->get_uint64() < static_cast<std::uint64_t>(kMaxSeconds)) {
    return static_cast<TimeMs>(v->get_uint64()) * 1000;
  }
  if (v->is_double() && v->get_double() > 0 && v->get_double() < 1e12) {
    return static_cast<TimeMs>(v->get_double() * 1000);
  }
  return std::nullopt;
}

// ES256's signature is r || s, 32 bytes each (RFC 7518 §3.4); OpenSSL verifies DER.
std::optional<std::string> ecdsa_der(std::string_view raw) {
  if (raw.size() != 64) return std::nullopt;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(bytes, 32, nullptr);
  BIGNUM* s = BN_bin2bn(bytes + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  const int length = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (length <= 0) return std::nullopt;
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length));
  OPENSSL_free(der);
  return out;
}

bool verify_sha256(EVP_PKEY* key, std::string_view signed_part, std::string_view signature) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  const bool ok =
      md && EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, key) == 1 &&
      EVP_DigestVerify(md, reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(signed_part.data()),
                       signed_part.size()) == 1;
  EVP_MD_CTX_free(md);
  return ok;
}

}  // namespace

struct JwkSet::Key {
  std::string kid;
  std::string alg;        // the algorithm this key signs with: RS256 or ES256
  std::string named_alg;  // the JWK's own `alg`, if it named one
  Pkey key;
};

JwkSet::JwkSet() = default;
JwkSet::~JwkSet() = default;
JwkSet::JwkSet(JwkSet&&) noexcept = default;
JwkSet& JwkSet::operator=(JwkSet&&) noexcept = default;

std::size_t JwkSet::size() const { return keys_.size(); }

bool JwkSet::has_kid(std::string_view kid) const {
  for (const auto& k : keys_) {
    if (k->kid == kid) return true;
  }
  return false;
}

Result<JwkSet> JwkSet::parse(std::string_view text) {
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 8;
  const json::value doc = json::parse(text, ec, {}, options);
  const auto* keys = !ec && doc.is_object() ? doc.get_object().if_contains("keys") : nullptr;
  if (!keys || !keys->is_array()) {
    return make_error(Errc::bad_request, "not a JWK Set (no \"keys\" array)");
  }
  JwkSet set;
  for (const auto& entry : keys->get_array()) {
    if (!entry.is_object()) continue;
    const auto& jwk = entry.get_object();
    const auto use = text_of(jwk, "use");
    if (!use.empty() && use != "sig") continue;
    auto key = std::make_unique<Key>();
    key->kid = text_of(jwk, "kid");
    key->named_alg = text_of(jwk, "alg");
    const auto kty = text_of(jwk, "kty");
    OSSL_PARAM_BLD* build = OSSL_PARAM_BLD_new();
    if (!build) continue;
    if (kty == "RSA") {
      auto n = field_bytes(jwk, "n");
      auto e = field_bytes(jwk, "e");
      BIGNUM* bn_n = n ? BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()),
                                   static_cast<int>(n->size()), nullptr)
                       : nullptr;
      BIGNUM* bn_e = e ? BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()),
                                   static_cast<int>(e->size()), nullptr)
                       : nullptr;
      if (bn_n && bn_e && OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
          OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1) {
        key->key = key_from("RSA", build);
      }
      BN_free(bn_n);
      BN_free(bn_e);
      key->alg = "RS256";
      // Keys shorter than 2048 bits are too weak to trust (RFC 7518 §3.3).
      if (key->key && EVP_PKEY_get_bits(key->key.get()) < 2048) key->key.reset();
    } else if (kty == "EC" && text_of(jwk, "crv") == "P-256") {
      auto x = field_bytes(jwk, "x");
      auto y = field_bytes(jwk, "y");
      if (x && y && x->size() == 32 && y->size() == 32) {
        const std::string point = "\x04" + *x + *y;
        static const char kGroup[] = "prime256v1";
        if (OSSL_PARAM_BLD_push_utf8_string(build, OSSL_PKEY_PARAM_GROUP_NAME, kGroup, 0) == 1 &&
            OSSL_PARAM_BLD_push_octet_string(build, OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                             point.size()) == 1) {
          key->key = key_from("EC", build);
        }
      }
      key->alg = "ES256";
    }
    OSSL_PARAM_BLD_free(build);
    if (key->key) set.keys_.push_back(std::move(key));
  }
  return set;
}

Result<std::string> token_kid(std::string_view token) {
  const auto dot = token.find('.');
  if (dot == std::string_view::npos) return refused("malformed");
  json::value storage;
  const auto* header = decode_json_part(token.substr(0, dot), storage);
  if (!header) return refused("malformed header");
  return text_of(*header, "kid");
}

Result<IdTokenClaims> verify_id_token(std::string_view token, const JwkSet& keys,
                                      const IdTokenRules& rules) {
  if (token.size() > 16 * 1024) return refused("too long");
  const auto first = token.find('.');
  const auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return refused("not a signed JWT (three parts)");
  }
  json::value header_storage, claims_storage;
  const auto* header = decode_json_part(token.substr(0, first), header_storage);
  const auto* claims = decode_json_part(token.substr(first + 1, second - first - 1), claims_storage);
  auto signature = base64url_decode(token.substr(second + 1));
  if (!header || !claims || !signature) return refused("malformed");

  // The algorithm: pinned, asymmetric, never "none" or HMAC.
  const auto alg = text_of(*header, "alg");
  if (alg != "RS256" && alg != "ES256") return refused("algorithm '" + alg + "' is not allowed");
  if (std::find(rules.algorithms.begin(), rules.algorithms.end(), alg) == rules.algorithms.end()) {
    return refused("algorithm " + alg + " is not allowed for this provider");
  }
  if (header->contains("crit")) return refused("critical header extensions are not supported");
  const auto kid = text_of(*header, "kid");
  const JwkSet::Key* key = nullptr;
  std::size_t candidates = 0;
  for (const auto& k : keys.keys_) {
    if (k->alg != alg || (!k->named_alg.empty() && k->named_alg != alg)) continue;
    if (!kid.empty() && k->kid != kid) continue;
    key = k.get();
    ++candidates;
  }
  if (!key) return make_error(Errc::not_found, "ID token refused: no key '" + kid + "' for " + alg);
  if (kid.empty() && candidates != 1) return refused("no kid, and more than one key could be meant");

  const std::string_view signed_part = token.substr(0, second);
  std::string der;
  if (alg == "ES256") {
    auto converted = ecdsa_der(*signature);
    if (!converted) return refused("bad signature");
    der = std::move(*converted);
  }
  if (!verify_sha256(key->key.get(), signed_part, alg == "ES256" ? der : *signature)) {
    return refused("bad signature");
  }

  // The claims (OpenID Connect Core §3.1.3.7).
  if (text_of(*claims, "iss") != rules.issuer) return refused("wrong issuer");
  const auto* aud = claims->if_contains("aud");
  bool audience_ok = false;
  std::size_t audiences = 0;
  if (aud && aud->is_string()) {
    audiences = 1;
    audience_ok = aud->get_string() == rules.client_id;
  } else if (aud && aud->is_array()) {
    for (const auto& a : aud->get_array()) {
      ++audiences;
      audience_ok |= a.is_string() && a.get_string() == rules.client_id;
    }
  }
  if (!audience_ok) return refused("wrong audience");
  const auto azp = text_of(*claims, "azp");
  if ((audiences > 1 || claims->contains("azp")) && azp != rules.client_id) {
    return refused("wrong authorized party (azp)");
  }
  const auto skew_ms = std::chrono::duration_cast<std::chrono::milliseconds>(rules.skew).count();
  const auto exp = date_of(*claims, "exp");
  if (!exp) return refused("no expiry");
  if (rules.now >= *exp + skew_ms) return refused("expired");
  const auto iat = date_of(*claims, "iat");
  if (!iat) return refused("no issue time");
  if (*iat > rules.now + skew_ms) return refused("issued in the future");
  if (*iat < rules.now - std::chrono::duration_cast<std::chrono::milliseconds>(rules.max_age).count()) {
    return refused("issued too long ago");
  }
  if (rules.nonce && text_of(*claims, "nonce") != *rules.nonce) return refused("wrong nonce");
  IdTokenClaims out;
  out.subject = text_of(*claims, "sub");
  if (out.subject.empty() || out.subject.size() > 255) return refused("no subject");
  out.email = text_of(*claims, "email");
  if (const auto* verified = claims->if_contains("email_verified")) {
    // Some providers send the string "true".
    out.email_verified = (verified->is_bool() && verified->get_bool()) ||
                         (verified->is_string() && verified->get_string() == "true");
  }
  out.name = text_of(*claims, "name");
  out.picture = text_of(*claims, "picture");
  out.preferred_username = text_of(*claims, "preferred_username");
  out.expires_at = *exp;
  return out;
}

std::string new_code_verifier() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no random bytes (RAND_bytes)");
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

std::string code_challenge_s256(std::string_view verifier) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(verifier.data()), verifier.size(), digest);
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

}  // namespace parley::auth::oidc
