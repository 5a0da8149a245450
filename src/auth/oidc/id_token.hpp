#pragma once
// OpenID Connect ID tokens (OpenID Connect Core §2, §3.1.3.7): a provider's signing keys as it
// publishes them (a JWK Set, RFC 7517) and the checks an ID token must pass before Parley signs
// anyone in with it.
//
// Only asymmetric signatures, and only the algorithms the provider's configuration pins:
// RS256 (RSA PKCS#1 v1.5, SHA-256) and ES256 (ECDSA P-256, SHA-256). "none" and every HMAC
// algorithm are refused whatever the configuration says — an HS256 token "signed" with a
// provider's public key is the classic forgery. A key is used only with the algorithm its type
// allows (and its `alg`, when the JWK names one).
//
// Threads: a JwkSet is immutable once parsed; share it (shared_ptr<const JwkSet>) across threads.
// OpenSSL stays in id_token.cpp.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/time.hpp"

namespace parley::auth::oidc {

class JwkSet {
 public:
  // The signing keys of a JWK Set document: RSA (n, e) and EC P-256 (x, y) keys whose `use` is
  // "sig" or absent. Keys of other types or curves are skipped; a document that is not a JWK
  // Set is Errc::bad_request.
  static Result<JwkSet> parse(std::string_view json);

  JwkSet();
  ~JwkSet();
  JwkSet(JwkSet&&) noexcept;
  JwkSet& operator=(JwkSet&&) noexcept;

  std::size_t size() const;
  bool has_kid(std::string_view kid) const;

  struct Key;  // id_token.cpp

 private:
  friend Result<struct IdTokenClaims> verify_id_token(std::string_view token,
                                                      const JwkSet& keys,
                                                      const struct IdTokenRules& rules);
  std::vector<std::unique_ptr<Key>> keys_;
};

// What an ID token must say, besides a good signature.
struct IdTokenRules {
  std::string issuer;     // `iss` exactly
  std::string client_id;  // in `aud`; `azp`, when present or when `aud` has several, equals it
  std::vector<std::string> algorithms{"RS256"};  // pinned: RS256 and/or ES256
  std::optional<std::string> nonce;  // `nonce` exactly, when the sign-in sent one
  TimeMs now = 0;
  std::chrono::seconds skew{60};  // clock difference tolerated for exp and iat
  std::chrono::seconds max_age{std::chrono::hours(24)};  // `iat` no older than this
};

// What Parley keeps of a verified ID token.
struct IdTokenClaims {
  std::string subject;  // `sub`: the user at this provider, for good
  std::string email;
  bool email_verified = false;
  std::string name;
  std::string picture;
  std::string preferred_username;
  TimeMs expires_at = 0;
};

// The `kid` of a token's header ("" when it has none), without checking anything else.
Result<std::string> token_kid(std::string_view token);

// Verifies token against keys and rules. Errc::unauthenticated with the reason for every refusal
// (malformed, algorithm not allowed, bad signature, wrong issuer or audience, expired, issued in
// the future, wrong nonce); Errc::not_found when no key of `keys` has the header's kid (the
// caller fetches the JWK Set again, at most once a minute, then gives up).
Result<IdTokenClaims> verify_id_token(std::string_view token, const JwkSet& keys,
                                      const IdTokenRules& rules);

// PKCE (RFC 7636): a fresh code verifier (43 base64url characters) and its S256 challenge.
std::string new_code_verifier();
std::string code_challenge_s256(std::string_view verifier);

}  // namespace parley::auth::oidc
