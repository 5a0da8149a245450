#pragma once
// OidcSignIn: "Sign in with Google" and any OpenID Connect provider (docs/protocol.md §2, "Sign
// in with an OpenID provider"), and the reference design's backend login.
//
// The code flow with PKCE (S256), state and nonce:
//   start(provider, return_to) → the provider's authorization URL, and a state cookie that
//     carries the flow's secrets (state, nonce, PKCE verifier, where to return) signed with the
//     node's key, so any node of a cluster can finish what another started;
//   finish(provider, code, state, cookie) → checks the state against the cookie, exchanges the
//     code at the token endpoint (HTTPS, verified), verifies the ID token (auth/oidc/id_token.hpp)
//     with the provider's keys (fetched and cached; fetched again on an unknown kid at most once
//     a minute), finds or creates the user by (provider, sub) — linking by email only when the
//     provider verified it and the operator allowed it — and signs them in (Parley's own tokens).
// backend_login: a trusted front end (NextAuth's signIn callback) posts the profile, with an ID
// token that verifies as above or the operator's server secret; never on the profile alone.
//
// Discovery documents are cached for discovery_ttl and fetched again after; a provider that
// cannot be reached is Errc::unavailable for that sign-in only.
//
// Threads: every method is [blocking] (HTTPS calls, the store); thread-safe.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/oidc/id_token.hpp"
#include "core/config.hpp"
#include "core/result.hpp"
#include "core/time.hpp"
#include "net/web_client.hpp"
#include "service/chat_service.hpp"
#include "store/account_catalog.hpp"

namespace parley {

struct SignInOptions {
  std::string public_url;  // where browsers reach the node: callbacks are under it
  std::string state_key;   // signs the state cookie (at least 32 bytes)
  // Where start()'s return_to may point besides public_url's origin (--allowed-origins).
  std::vector<std::string> allowed_return_origins;
  std::chrono::seconds flow_ttl{600};  // a sign-in must finish within this
  std::chrono::seconds discovery_ttl{3600};
  std::chrono::seconds jwks_refetch_interval{60};  // on an unknown kid, at most this often
  std::chrono::milliseconds fetch_timeout{10'000};
};

// How the provider is called: net::fetch, or a fake in unit tests.
using Fetch = std::function<Result<net::ClientResponse>(
    std::string_view method, std::string_view url,
    const std::vector<std::pair<std::string, std::string>>& headers, std::string_view body,
    const net::FetchOptions& options)>;

class OidcSignIn {
 public:
  OidcSignIn(std::vector<OidcProviderConfig> providers, SignInOptions options,
             ChatService& service, Store& store, AccountCatalog& accounts, const Clock& clock,
             Fetch fetch = net::fetch);
  ~OidcSignIn();

  struct ProviderInfo {
    std::string name;
    std::string display_name;
  };
  std::vector<ProviderInfo> providers() const;

  struct Started {
    std::string authorization_url;
    std::string cookie;  // the state cookie's value (api sets it, HttpOnly, for the callback)
  };
  // return_to: where the browser goes with the tokens afterwards ("" for a JSON answer); it must
  // be on public_url's origin or an allowed one. not_found: no such provider.
  Result<Started> start(std::string_view provider, std::string_view return_to);

  struct Finished {
    LoginResult login;
    std::string return_to;
  };
  // unauthenticated for a wrong or missing state, an error from the provider, a refused code,
  // or an ID token that does not verify.
  Result<Finished> finish(std::string_view provider, std::string_view code,
                          std::string_view state, std::string_view cookie,
                          std::string_view device);

  // POST /api/auth/login. A profile is believed only with a verified id_token whose `sub` is its
  // oauth_id (then the token's claims win over the posted ones), or when trusted (the caller
  // presented the backend secret).
  struct BackendProfile {
    std::string provider;
    std::string oauth_id;
    std::string email;
    std::string name;
    std::string image;
    std::string id_token;
  };
  Result<LoginResult> backend_login(const BackendProfile& profile, bool trusted,
                                    std::string_view device);

  // The cookie's name, and the path it is sent back to.
  static constexpr std::string_view kCookie = "parley_oidc";
  static constexpr std::string_view kCookiePath = "/auth/oidc/";

 private:
  struct Provider;  // a provider's configuration and what was fetched of it (oidc_sign_in.cpp)
  Provider* find(std::string_view name) const;
  // The provider's endpoints, from its discovery document (cached).
  Status discover(Provider& p);
  // p's keys: those in hand, or fetched (none yet, or unknown_kid: a rotation, at most once per
  // jwks_refetch_interval — null when it was looked for lately).
  Result<std::shared_ptr<const auth::oidc::JwkSet>> keys_of(Provider& p, bool unknown_kid);
  // Verifies an ID token of p's with its keys, fetching them first or once more as needed.
  Result<auth::oidc::IdTokenClaims> verify(Provider& p, std::string_view id_token,
                                           std::optional<std::string> nonce);
  // The user the claims sign in: found by identity, linked by a verified email when both this
  // provider and the one that vouched for the account's email are trusted for linking, or
  // created. Emails are compared in lower case.
  Result<chat::User> user_for(const Provider& p, auth::oidc::IdTokenClaims claims);
  Result<net::ClientResponse> call(const Provider& p, std::string_view method,
                                   std::string_view url, std::string_view body = {},
                                   std::vector<std::pair<std::string, std::string>> headers = {});
  bool return_allowed(std::string_view return_to) const;

  std::vector<std::unique_ptr<Provider>> providers_;
  const SignInOptions options_;
  ChatService& service_;
  Store& store_;
  AccountCatalog& accounts_;
  const Clock& clock_;
  const Fetch fetch_;
};

}  // namespace parley
