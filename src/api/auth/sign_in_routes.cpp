// The sign-in routes of docs/protocol.md §2: OpenID Connect's start and callback (redirects and
// a cookie, which the JSON operations table does not speak) and the backend login.
//
// Threads: handlers run on the connection's shard; the sign-in itself (HTTPS calls to the
// provider, the store) is offloaded to the blocking pool. Every route is throttled per client
// address (Throttle::sign_in, api/throttle.hpp).
#include "api/auth/sign_in_routes.hpp"

#include <boost/json.hpp>

#include "api/codec.hpp"
#include "auth/digest.hpp"
#include "net/offload.hpp"
#include "service/oidc_sign_in.hpp"

namespace parley::api {

namespace asio = boost::asio;
using net::HttpRequest;
using net::HttpResponse;

namespace {

std::string cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const auto semicolon = header.find(';');
    auto pair = header.substr(0, semicolon);
    header = semicolon == std::string_view::npos ? std::string_view() : header.substr(semicolon + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.starts_with(name) && pair[name.size()] == '=') {
      return std::string(pair.substr(name.size() + 1));
    }
  }
  return {};
}

std::string state_cookie(const ApiContext& ctx, std::string_view value, int max_age) {
  return std::string(OidcSignIn::kCookie) + "=" + std::string(value) +
         "; Path=" + std::string(OidcSignIn::kCookiePath) + "; Max-Age=" +
         std::to_string(max_age) + "; HttpOnly; SameSite=Lax" +
         (ctx.options.secure_cookies ? "; Secure" : "");
}

// Throttle::sign_in for this request's client; the refusal's response, or nullopt.
asio::awaitable<std::optional<HttpResponse>> throttled(ApiContext& ctx, const HttpRequest& req) {
  const std::string client = client_address(ctx.options.throttle.trusted_proxies, req.remote,
                                            req.forwarded_for);
  const json::object no_args;
  auto refused = co_await admit(ctx, Throttle::sign_in, no_args, client, nullptr);
  if (!refused) co_return std::nullopt;
  co_return refusal_response(*refused);
}

asio::awaitable<HttpResponse> providers(ApiContext& ctx, HttpRequest&) {
  json::array list;
  for (const auto& p : ctx.sign_in->providers()) {
    list.push_back(json::object{{"name", p.name},
                                {"display_name", p.display_name},
                                {"start_url", "/auth/oidc/" + p.name + "/start"}});
  }
  co_return json_response(200, json::object{{"providers", std::move(list)}});
}

asio::awaitable<HttpResponse> start(ApiContext& ctx, HttpRequest& req) {
  if (auto refused = co_await throttled(ctx, req)) co_return std::move(*refused);
  const std::string provider = req.params.at(0);
  const std::string return_to = query_param(req.query, "redirect_uri").value_or("");
  OidcSignIn& sign_in = *ctx.sign_in;
  auto work = [&sign_in, &provider, &return_to] { return sign_in.start(provider, return_to); };
  auto started = co_await net::offload(ctx.blocking, work);
  if (!started) co_return error_response(started.error());
  HttpResponse r;
  r.status = 302;
  r.content_type = "text/plain; charset=utf-8";
  r.headers.emplace_back("Location", started->authorization_url);
  r.headers.emplace_back("Set-Cookie", state_cookie(ctx, started->cookie, 600));
  r.headers.emplace_back("Cache-Control", "no-store");
  co_return r;
}

asio::awaitable<HttpResponse> callback(ApiContext& ctx, HttpRequest& req) {
  if (auto refused = co_await throttled(ctx, req)) co_return std::move(*refused);
  const std::string provider = req.params.at(0);
  if (auto error = query_param(req.query, "error")) {
    // The user declined, or the provider would not: nothing to sign in.
    // The flow's cookie stays: this answer's state is not checked, so it may be forged.
    co_return error_response(make_error(
        Errc::unauthenticated, "the provider did not sign you in: " + error->substr(0, 100)));
  }
  const std::string code = query_param(req.query, "code").value_or("");
  const std::string state = query_param(req.query, "state").value_or("");
  const std::string cookie = cookie_value(req.cookie, OidcSignIn::kCookie);
  const std::string device = req.user_agent;
  OidcSignIn& sign_in = *ctx.sign_in;
  auto work = [&] { return sign_in.finish(provider, code, state, cookie, device); };
  auto finished = co_await net::offload(ctx.blocking, work);
  HttpResponse r;
  if (!finished) {
    r = error_response(finished.error());
  } else if (finished->return_to.empty()) {
    r = json_response(200, login_json(finished->login));
  } else {
    // Back to the app, the tokens in the fragment: browsers never send it to a server.
    const auto& login = finished->login;
    r.status = 302;
    r.content_type = "text/plain; charset=utf-8";
    r.headers.emplace_back("Location", finished->return_to + "#access_token=" +
                                           login.access_token + "&refresh_token=" +
                                           login.refresh_token + "&expires_in=" +
                                           std::to_string(login.expires_in) + "&token_type=Bearer");
  }
  // A finished flow is spent. A refused one keeps its cookie: a forged callback must not cancel
  // the browser's real sign-in in progress.
  if (finished) r.headers.emplace_back("Set-Cookie", state_cookie(ctx, "", 0));
  r.headers.emplace_back("Cache-Control", "no-store");
  co_return r;
}

// {email, name, oauth_id, provider, image, id_token?} → {"user": {id, token, provider, …}}.
asio::awaitable<HttpResponse> backend_login(ApiContext& ctx, HttpRequest& req) {
  // The operator's server-to-server secret, compared in constant time. The front end that has it
  // signs in all its users from one address: it is not rate limited; everyone else is.
  const auto bearer = bearer_token(req.authorization);
  const bool trusted = bearer && !ctx.options.backend_login_secret.empty() &&
                       auth::constant_time_equal(*bearer, ctx.options.backend_login_secret);
  if (!trusted) {
    if (auto refused = co_await throttled(ctx, req)) co_return std::move(*refused);
  }
  if (bearer && !trusted) {
    co_return error_response(make_error(Errc::unauthenticated, "wrong backend secret"));
  }
  auto body = parse_object(req.body);
  if (!body) co_return error_response(body.error());
  OidcSignIn::BackendProfile profile;
  for (auto [name, field] : {std::pair{"provider", &profile.provider},
                             std::pair{"oauth_id", &profile.oauth_id},
                             std::pair{"email", &profile.email}, std::pair{"name", &profile.name},
                             std::pair{"image", &profile.image},
                             std::pair{"id_token", &profile.id_token}}) {
    auto value = opt_string(*body, name);
    if (!value) co_return error_response(value.error());
    *field = value->value_or("");
  }
  if (profile.provider.empty() || profile.oauth_id.empty()) {
    co_return error_response(make_error(Errc::bad_request, "provider and oauth_id are required"));
  }
  const std::string device = req.user_agent;
  OidcSignIn& sign_in = *ctx.sign_in;
  auto work = [&] { return sign_in.backend_login(profile, trusted, device); };
  auto login = co_await net::offload(ctx.blocking, work);
  if (!login) co_return error_response(login.error());
  // The reference design's shape: the user, with its token inside.
  json::object user = user_json(login->user);
  user["token"] = login->access_token;
  user["refresh_token"] = login->refresh_token;
  user["expires_in"] = login->expires_in;
  co_return json_response(200, json::object{{"user", std::move(user)}});
}

}  // namespace

void add_sign_in_routes(net::Router& router, ApiContext& ctx) {
  router.add("GET", "/auth/providers", [&ctx](HttpRequest& r) { return providers(ctx, r); });
  router.add("GET", "/auth/oidc/{}/start", [&ctx](HttpRequest& r) { return start(ctx, r); });
  router.add("GET", "/auth/oidc/{}/callback", [&ctx](HttpRequest& r) { return callback(ctx, r); });
  router.add("POST", "/api/auth/login", [&ctx](HttpRequest& r) { return backend_login(ctx, r); });
}

}  // namespace parley::api
