#include "service/oidc_sign_in.hpp"

#include <boost/json.hpp>
#include <cctype>

#include "auth/base64.hpp"
#include "auth/digest.hpp"
#include "auth/signed_json.hpp"
#include "core/logging.hpp"
#include "core/url.hpp"

namespace parley {

namespace json = boost::json;
using auth::oidc::IdTokenClaims;
using auth::oidc::JwkSet;

struct OidcSignIn::Provider {
  OidcProviderConfig config;
  std::string redirect_uri;

  std::mutex mutex;  // guards what follows
  TimeMs discovered_at = 0;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string jwks_uri;
  std::shared_ptr<const JwkSet> keys;
  TimeMs keys_fetched_at = 0;  // or tried: one fetch per interval, however many ask at once
  TimeMs discovery_failed_at = 0;  // a provider that is away is not asked again for a while
};

namespace {

Error refused(std::string why) { return make_error(Errc::unauthenticated, std::move(why)); }

std::string text_of(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

Result<json::object> json_object(const net::ClientResponse& r, std::string_view what) {
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object()) {
    return make_error(Errc::unavailable, std::string(what) + " is not a JSON object");
  }
  return std::move(v.get_object());
}

// "https://host:port" of a URL, or "".
std::string origin_of(std::string_view url) {
  const auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  const auto end = url.find_first_of("/?#", scheme + 3);
  return std::string(url.substr(0, end));
}

constexpr TimeMs kRetryAfterFailureMs = 5000;

std::string random_token() {
  return auth::oidc::new_code_verifier();  // 256 random bits, base64url
}

}  // namespace

OidcSignIn::OidcSignIn(std::vector<OidcProviderConfig> providers, SignInOptions options,
                       ChatService& service, Store& store, AccountCatalog& accounts,
                       const Clock& clock, Fetch fetch)
    : options_(std::move(options)),
      service_(service),
      store_(store),
      accounts_(accounts),
      clock_(clock),
      fetch_(std::move(fetch)) {
  for (auto& config : providers) {
    auto p = std::make_unique<Provider>();
    p->redirect_uri = options_.public_url + std::string(kCookiePath) + config.name + "/callback";
    p->config = std::move(config);
    providers_.push_back(std::move(p));
  }
}

OidcSignIn::~OidcSignIn() = default;

std::vector<OidcSignIn::ProviderInfo> OidcSignIn::providers() const {
  std::vector<ProviderInfo> out;
  for (const auto& p : providers_) {
    out.push_back({p->config.name,
                   p->config.display_name.empty() ? p->config.name : p->config.display_name});
  }
  return out;
}

OidcSignIn::Provider* OidcSignIn::find(std::string_view name) const {
  for (const auto& p : providers_) {
    if (p->config.name == name) return p.get();
  }
  return nullptr;
}

Result<net::ClientResponse> OidcSignIn::call(const Provider& p, std::string_view method,
                                             std::string_view url, std::string_view body,
                                             std::vector<std::pair<std::string, std::string>> headers) {
  net::FetchOptions fetch_options;
  fetch_options.timeout = options_.fetch_timeout;
  fetch_options.ca_file = p.config.ca_file;
  headers.emplace_back("Accept", "application/json");
  auto r = fetch_(method, url, headers, body, fetch_options);
  if (!r) {
    log::warn("event=oidc_provider_unreachable provider={} url={} error=\"{}\"", p.config.name,
              url, r.error().message);
    return make_error(Errc::unavailable,
                      "the sign-in provider " + p.config.name + " cannot be reached");
  }
  return r;
}

Status OidcSignIn::discover(Provider& p) {
  const TimeMs now = clock_.now_ms();
  {
    std::lock_guard lock(p.mutex);
    if (p.discovered_at != 0 && now - p.discovered_at < options_.discovery_ttl.count() * 1000) {
      return ok_status();
    }
    // A failure is remembered for a few seconds: sign-ins then fail at once instead of each
    // holding a blocking thread for a provider that is away.
    if (p.discovery_failed_at != 0 && now - p.discovery_failed_at < kRetryAfterFailureMs) {
      if (p.discovered_at != 0) return ok_status();  // the stale endpoints serve meanwhile
      return make_error(Errc::unavailable,
                        "the sign-in provider " + p.config.name + " cannot be reached");
    }
  }
  auto failed = [&](Error e) {
    std::lock_guard lock(p.mutex);
    p.discovery_failed_at = clock_.now_ms();
    if (p.discovered_at != 0) return ok_status();  // keep serving with what was found before
    return Status(std::move(e));
  };
  std::string issuer = p.config.issuer;
  while (!issuer.empty() && issuer.back() == '/') issuer.pop_back();
  auto r = call(p, "GET", issuer + "/.well-known/openid-configuration");
  if (!r) return failed(r.error());
  if (r->status != 200) {
    return failed(make_error(Errc::unavailable, "the provider's discovery document answered " +
                                                    std::to_string(r->status)));
  }
  auto doc = json_object(*r, "the discovery document");
  if (!doc) return failed(doc.error());
  // The document must be the configured issuer's own (OpenID Connect Discovery §4.3).
  if (text_of(*doc, "issuer") != p.config.issuer) {
    return failed(make_error(Errc::unavailable, "the discovery document names another issuer: " +
                                                    text_of(*doc, "issuer")));
  }
  const auto authorization = text_of(*doc, "authorization_endpoint");
  const auto token = text_of(*doc, "token_endpoint");
  const auto jwks = text_of(*doc, "jwks_uri");
  if (authorization.empty() || token.empty() || jwks.empty()) {
    return failed(make_error(Errc::unavailable, "the discovery document lacks an endpoint"));
  }
  std::lock_guard lock(p.mutex);
  p.authorization_endpoint = authorization;
  p.token_endpoint = token;
  p.jwks_uri = jwks;
  p.discovered_at = now;
  p.discovery_failed_at = 0;
  return ok_status();
}

Result<std::shared_ptr<const JwkSet>> OidcSignIn::keys_of(Provider& p, bool unknown_kid) {
  std::string jwks_uri;
  {
    std::lock_guard lock(p.mutex);
    if (p.keys && !unknown_kid) return p.keys;
    // Keys in hand: a rotation is looked for once per interval, whoever asks. None yet (the
    // first fetch failed): again after a few seconds.
    const TimeMs now = clock_.now_ms();
    const TimeMs wait = p.keys ? options_.jwks_refetch_interval.count() * 1000
                               : kRetryAfterFailureMs;
    if (now - p.keys_fetched_at < wait) {
      if (p.keys) return std::shared_ptr<const JwkSet>();  // looked lately: the kid is unknown
      return make_error(Errc::unavailable, "the provider's keys cannot be read");
    }
    p.keys_fetched_at = now;  // this thread fetches
    jwks_uri = p.jwks_uri;
  }
  auto r = call(p, "GET", jwks_uri);
  if (!r) return r.error();
  auto parsed = r->status == 200 ? JwkSet::parse(r->body)
                                 : Result<JwkSet>(make_error(Errc::unavailable, "no keys"));
  if (!parsed) {
    return make_error(Errc::unavailable, "the provider's keys cannot be read: " +
                                             parsed.error().message);
  }
  auto keys = std::make_shared<const JwkSet>(std::move(*parsed));
  std::lock_guard lock(p.mutex);
  p.keys = keys;
  return keys;
}

Result<IdTokenClaims> OidcSignIn::verify(Provider& p, std::string_view id_token,
                                         std::optional<std::string> nonce) {
  auth::oidc::IdTokenRules rules;
  rules.issuer = p.config.issuer;
  rules.client_id = p.config.client_id;
  rules.algorithms = p.config.algorithms;
  rules.nonce = std::move(nonce);
  auto keys = keys_of(p, false);
  if (!keys) return keys.error();
  rules.now = clock_.now_ms();
  auto claims = auth::oidc::verify_id_token(id_token, **keys, rules);
  if (claims || claims.error().code != Errc::not_found) return claims;
  // An unknown kid: the provider may have rotated its keys. Once more with fresh ones.
  keys = keys_of(p, true);
  if (!keys) return keys.error();
  if (!*keys) return refused(claims.error().message);
  rules.now = clock_.now_ms();
  claims = auth::oidc::verify_id_token(id_token, **keys, rules);
  if (!claims && claims.error().code == Errc::not_found) return refused(claims.error().message);
  return claims;
}

Result<chat::User> OidcSignIn::user_for(const Provider& p, IdTokenClaims claims) {
  const auto& name = p.config.name;
  auto linked = accounts_.find_identity(name, claims.subject);
  if (!linked) return linked.error();
  if (*linked) return store_.get_user(**linked);
  const TimeMs now = clock_.now_ms();
  for (auto& c : claims.email) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (p.config.link_by_email && claims.email_verified && !claims.email.empty()) {
    auto owner = accounts_.find_user_by_email(claims.email);
    if (!owner) return owner.error();
    // Only an email that a provider trusted for linking vouched for links: one a provider the
    // operator did not trust stored (or the backend posted under another name) must not pull
    // the victim's sign-in into the account that planted it.
    const Provider* origin = nullptr;
    if (*owner) {
      auto owner_user = store_.get_user(**owner);
      if (!owner_user) return owner_user.error();
      origin = find(owner_user->provider);
    }
    if (*owner && origin && origin->config.link_by_email) {
      auto link = accounts_.link_identity(**owner, name, claims.subject, now);
      if (!link && link.error().code != Errc::conflict) return link.error();
      log::info("event=identity_linked provider={} user={} by=email", name, **owner);
      auto again = accounts_.find_identity(name, claims.subject);  // conflict: another node won
      if (!again) return again.error();
      return store_.get_user(again->value_or(**owner));
    }
  }
  ExternalProfile profile;
  profile.provider = name;
  profile.subject = claims.subject;
  profile.username_hint = !claims.preferred_username.empty() ? claims.preferred_username
                          : !claims.email.empty() ? claims.email.substr(0, claims.email.find('@'))
                                                  : claims.name;
  profile.name = claims.name;
  if (claims.email_verified) profile.email = claims.email;
  profile.image = claims.picture;
  auto user = accounts_.create_external_user(profile, now);
  if (user) log::info("event=user_created provider={} user={}", name, user->id);
  return user;
}

bool OidcSignIn::return_allowed(std::string_view return_to) const {
  if (return_to.empty()) return true;
  // Only what a URI may hold (RFC 3986), and no fragment: the tokens go there. No space, quote,
  // angle bracket or control character reaches the Location header.
  for (const char c : return_to) {
    const bool uri_char = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') ||
                          std::string_view("-._~:/?[]@!$&'()*+,;=%").find(c) != std::string_view::npos;
    if (!uri_char) return false;
  }
  const auto origin = origin_of(return_to);
  if (origin.empty() || (return_to.size() > origin.size() && return_to[origin.size()] != '/' &&
                         return_to[origin.size()] != '?' && return_to[origin.size()] != '#')) {
    return false;
  }
  if (origin == origin_of(options_.public_url)) return true;
  for (const auto& allowed : options_.allowed_return_origins) {
    if (allowed == origin) return true;  // "*" is no origin: tokens never go just anywhere
  }
  return false;
}

Result<OidcSignIn::Started> OidcSignIn::start(std::string_view name, std::string_view return_to) {
  Provider* p = find(name);
  if (!p) return make_error(Errc::not_found, "no sign-in provider '" + std::string(name) + "'");
  if (return_to.size() > 2048 || !return_allowed(return_to)) {
    return make_error(Errc::bad_request,
                      "redirect_uri must be on this server's origin or an allowed one");
  }
  if (auto s = discover(*p); !s) return s.error();
  const std::string state = random_token(), nonce = random_token();
  const std::string verifier = auth::oidc::new_code_verifier();
  const json::object flow{{"p", p->config.name}, {"s", state}, {"n", nonce}, {"v", verifier},
                          {"r", return_to},
                          {"e", clock_.now_ms() + options_.flow_ttl.count() * 1000}};
  Started out;
  out.cookie = auth::sign_json(options_.state_key, flow);
  std::string scopes;
  for (const auto& s : p->config.scopes) scopes += (scopes.empty() ? "" : " ") + s;
  std::string endpoint;
  {
    std::lock_guard lock(p->mutex);
    endpoint = p->authorization_endpoint;
  }
  out.authorization_url =
      endpoint + (endpoint.find('?') == std::string::npos ? "?" : "&") +
      "response_type=code&client_id=" + percent_encode(p->config.client_id) +
      "&redirect_uri=" + percent_encode(p->redirect_uri) + "&scope=" + percent_encode(scopes) +
      "&state=" + state + "&nonce=" + nonce +
      "&code_challenge=" + auth::oidc::code_challenge_s256(verifier) +
      "&code_challenge_method=S256";
  return out;
}

Result<OidcSignIn::Finished> OidcSignIn::finish(std::string_view name, std::string_view code,
                                                std::string_view state, std::string_view cookie,
                                                std::string_view device) {
  Provider* p = find(name);
  if (!p) return make_error(Errc::not_found, "no sign-in provider '" + std::string(name) + "'");
  // The flow this browser started: signed by this deployment, unexpired, this provider's, and
  // with this state (login CSRF: a code someone else obtained cannot be pushed into it).
  const auto bad_state = refused("the sign-in's state does not match: start again");
  const auto opened = auth::open_signed_json(options_.state_key, cookie);
  if (!opened) return bad_state;
  const json::object& flow = *opened;
  const auto* expires = flow.if_contains("e");
  if (!expires || !expires->is_int64() || expires->get_int64() < clock_.now_ms()) {
    return refused("the sign-in took too long: start again");
  }
  if (text_of(flow, "p") != p->config.name ||
      !auth::constant_time_equal(text_of(flow, "s"), state) || state.empty()) {
    return bad_state;
  }
  if (code.empty()) return make_error(Errc::bad_request, "the provider sent no code");
  if (auto s = discover(*p); !s) return s.error();

  // The code, exchanged for tokens over TLS (the client authenticates with its secret).
  std::string body = "grant_type=authorization_code&code=" + percent_encode(code) +
                     "&redirect_uri=" + percent_encode(p->redirect_uri) +
                     "&code_verifier=" + percent_encode(text_of(flow, "v")) +
                     "&client_id=" + percent_encode(p->config.client_id);
  std::vector<std::pair<std::string, std::string>> headers{
      {"Content-Type", "application/x-www-form-urlencoded"}};
  if (!p->config.client_secret.empty()) {
    headers.emplace_back("Authorization",
                         "Basic " + auth::base64_encode(percent_encode(p->config.client_id) + ":" +
                                                        percent_encode(p->config.client_secret)));
  }
  std::string token_endpoint;
  {
    std::lock_guard lock(p->mutex);
    token_endpoint = p->token_endpoint;
  }
  auto r = call(*p, "POST", token_endpoint, body, std::move(headers));
  if (!r) return r.error();
  auto answer = json_object(*r, "the token endpoint's answer");
  if (r->status != 200 || !answer) {
    const auto error = answer ? text_of(*answer, "error") : std::string("unreadable answer");
    log::info("event=oidc_code_refused provider={} status={} error={}", name, r->status, error);
    return refused("the provider refused the sign-in: " + (error.empty() ? "no reason" : error));
  }
  const auto id_token = text_of(*answer, "id_token");
  if (id_token.empty()) return refused("the provider sent no ID token");
  auto claims = verify(*p, id_token, text_of(flow, "n"));
  if (!claims) {
    log::warn("event=id_token_refused provider={} error=\"{}\"", name, claims.error().message);
    return claims.error();
  }
  auto user = user_for(*p, *claims);
  if (!user) return user.error();
  auto login = service_.sign_in(*user, device, p->config.name);
  if (!login) return login.error();
  return Finished{std::move(*login), text_of(flow, "r")};
}

Result<LoginResult> OidcSignIn::backend_login(const BackendProfile& profile, bool trusted,
                                              std::string_view device) {
  Provider* p = find(profile.provider);
  if (!trusted && !profile.id_token.empty()) {
    if (!p) return make_error(Errc::not_found, "no sign-in provider '" + profile.provider + "'");
    if (auto s = discover(*p); !s) return s.error();
    // No nonce: this token came through the front end's own flow, which checked it.
    auto claims = verify(*p, profile.id_token, std::nullopt);
    if (!claims) return claims.error();
    if (claims->subject != profile.oauth_id) {
      return refused("the ID token is another user's (sub is not oauth_id)");
    }
    auto user = user_for(*p, *claims);
    if (!user) return user.error();
    return service_.sign_in(*user, device, p->config.name);
  }
  if (!trusted) {
    return refused("a verified id_token or the backend secret is required: a profile alone "
                   "proves nothing");
  }
  // Trusted: the operator's server vouches for the profile.
  if (profile.provider.empty() || profile.provider.size() > 64 || profile.oauth_id.empty() ||
      profile.oauth_id.size() > 255) {
    return make_error(Errc::bad_request, "provider and oauth_id are required");
  }
  Provider trusted_provider;
  trusted_provider.config.name = profile.provider;
  trusted_provider.config.link_by_email = p && p->config.link_by_email;
  IdTokenClaims claims;
  claims.subject = profile.oauth_id;
  claims.email = profile.email;
  claims.email_verified = !profile.email.empty();  // as the trusted server says
  claims.name = profile.name;
  claims.picture = profile.image;
  auto user = user_for(trusted_provider, std::move(claims));
  if (!user) return user.error();
  return service_.sign_in(*user, device, profile.provider);
}

}  // namespace parley
