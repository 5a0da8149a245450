#include "api/rest_routes.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <stdexcept>

#include "api/codec.hpp"
#include "core/ids.hpp"
#include "core/time.hpp"

namespace parley::api {

namespace asio = boost::asio;
using net::HttpRequest;
using net::HttpResponse;
using From = RestField::From;
using Kind = RestField::Kind;

namespace {

// A path segment or query parameter as the field's kind asks.
Result<json::value> convert(const RestField& field, std::string_view text) {
  if (field.kind == Kind::text) return json::value(text);
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  const bool integer = ec == std::errc() && end == text.data() + text.size();
  const std::string name(field.from == From::path ? field.arg.empty() ? field.name : field.arg
                                                  : field.name);
  if (field.kind == Kind::positive_integer && (!integer || value < 1)) {
    return make_error(Errc::bad_request, name + " must be a positive integer");
  }
  if (!integer) return make_error(Errc::bad_request, name + " must be an integer");
  return json::value(value);
}

SystemIdGenerator& request_ids() {
  static SystemIdGenerator ids;
  return ids;
}

// ---- the REST API, route by route (docs/protocol.md, "REST")

using F = RestField;
constexpr F path(std::string_view arg, Kind kind = Kind::text) {
  return F{From::path, arg, {}, kind, true};
}
constexpr F query(std::string_view name, std::string_view arg = {}, Kind kind = Kind::text) {
  return F{From::query, name, arg, kind, false};
}
constexpr F body(std::string_view name, std::string_view arg = {}, bool required = false) {
  return F{From::body, name, arg, Kind::text, required};
}
constexpr F query_int(std::string_view name, std::string_view arg = {}) {
  return query(name, arg, Kind::integer);
}
constexpr bool kBody = true;
constexpr bool kNoBody = false;

constexpr RestRoute kRoutes[] = {
    {"POST", "/auth/register", "register", {body("username"), body("password")}, kBody},
    {"POST", "/auth/login", "login",
     {body("username"), body("password"), body("device")}, kBody},
    {"POST", "/auth/refresh", "refresh", {body("refresh_token")}, kBody},
    {"POST", "/auth/logout", "logout", {}, kNoBody},
    {"POST", "/auth/login/mfa", "login_mfa", {body("challenge"), body("code")}, kBody},
    {"POST", "/auth/mfa/totp", "totp_begin", {body("password")}, kBody},
    {"POST", "/auth/mfa/totp/confirm", "totp_confirm", {body("code")}, kBody},
    {"DELETE", "/auth/mfa/totp", "totp_disable", {body("code")}, kBody},
    {"GET", "/auth/sessions", "sessions", {}, kNoBody},
    {"DELETE", "/auth/sessions/{}", "session_revoke", {path("session", Kind::positive_integer)},
     kNoBody},
    {"POST", "/auth/logout-all", "logout_all", {}, kNoBody},
    {"GET", "/me", "me", {}, kNoBody},
    {"POST", "/chat/send", "send",
     {body("recipient", "to", true), body("message", "body", true), body("client_msg_id"),
      body("reply_to"), body("attachments")},
     kBody, "msg", true},
    {"GET", "/chat/messages", "direct_history",
     {query("recipient", "to"), query_int("before"), query_int("after"), query_int("limit")},
     kNoBody},
    {"POST", "/groups/create", "group_create",
     {body("name"), body("members"), body("passcode"), body("e2ee")}, kBody},
    {"GET", "/groups/{}", "group_info", {path("conv")}, kNoBody},
    {"PUT", "/groups/{}/add-member", "group_add_member", {path("conv"), body("member")}, kBody},
    {"DELETE", "/groups/{}/remove-member", "group_remove_member",
     {path("conv"), body("member")}, kBody},
    {"POST", "/groups/{}/join", "group_join", {path("conv"), body("passcode")}, kBody},
    {"POST", "/groups/{}/send", "group_send",
     {path("conv"), body("message", "body", true), body("client_msg_id"), body("reply_to"),
      body("attachments")},
     kBody, "msg", true},
    {"GET", "/groups/{}/messages", "group_history",
     {path("conv"), query_int("before"), query_int("after"), query_int("limit")}, kNoBody},
    {"GET", "/conversations", "conversations", {}, kNoBody},
    {"GET", "/conversations/{}/messages", "history",
     {path("conv"), query_int("before"), query_int("after"), query_int("limit")}, kNoBody},
    {"GET", "/conversations/{}/changes", "history",
     {path("conv"), query_int("after", "changed_after"), query_int("limit")}, kNoBody},
    {"POST", "/conversations/{}/read", "read", {path("conv"), body("seq")}, kBody},
    {"POST", "/conversations/{}/delivered", "delivered", {path("conv"), body("seq")}, kBody},
    {"PATCH", "/conversations/{}/messages/{}", "edit",
     {path("conv"), path("seq", Kind::positive_integer), body("message", "body", true)}, kBody,
     "msg"},
    {"DELETE", "/conversations/{}/messages/{}", "delete",
     {path("conv"), path("seq", Kind::positive_integer)}, kNoBody, "msg"},
    {"GET", "/users/{}/presence", "presence", {path("user")}, kNoBody},
    {"GET", "/sync", "sync", {}, kNoBody},
    {"POST", "/encrypt", "encrypt", {body("message", {}, true), body("conv")}, kBody},
    {"POST", "/decrypt", "decrypt", {body("encryptedMessage", {}, true)}, kBody},
    {"POST", "/conversations/direct", "direct_open", {body("recipient", "to", true), body("e2ee")},
     kBody},
    {"PUT", "/keys/devices/{}", "keys_put_device",
     {path("device"), body("identity_key"), body("dh_key"), body("dh_signature"),
      body("signed_prekey")},
     kBody},
    {"POST", "/keys/devices/{}/one-time", "keys_add_prekeys", {path("device"), body("prekeys")},
     kBody},
    {"GET", "/keys/devices", "keys_own_devices", {}, kNoBody},
    {"DELETE", "/keys/devices/{}", "keys_remove_device", {path("device")}, kNoBody},
    {"GET", "/keys/users/{}", "keys_user_devices", {path("user"), query_int("one_time")}, kNoBody},
};

// ---- the node's own pages

asio::awaitable<HttpResponse> health(HttpRequest&) {
  co_return json_response(200, json::object{{"status", "ok"}});
}

// An operation's error speaks of its fields by their operation names ('body'); a REST client
// sent them under the route's ('message').
Error in_rest_names(const RestRoute& route, Error e) {
  for (const auto& field : route.fields) {
    if (field.arg.empty() || field.from != From::body) continue;
    const std::string op_name = "'" + std::string(field.arg) + "'";
    if (auto at = e.message.find(op_name); at != std::string::npos) {
      e.message.replace(at, op_name.size(), "'" + std::string(field.name) + "'");
    }
  }
  return e;
}

}  // namespace

Result<json::object> rest_arguments(const RestRoute& route, const HttpRequest& request) {
  json::object body;
  if (route.json_body) {
    if (request.body.empty()) return make_error(Errc::bad_request, "expected a JSON object body");
    auto parsed = parse_object(request.body);
    if (!parsed) return parsed.error();
    body = std::move(*parsed);
  }
  json::object args;
  std::size_t next_param = 0;
  for (const auto& field : route.fields) {
    if (field.name.empty()) continue;
    const std::string_view arg = field.arg.empty() ? field.name : field.arg;
    switch (field.from) {
      case From::path: {
        if (next_param >= request.params.size()) {
          return make_error(Errc::internal, "route captures fewer segments than it binds");
        }
        auto value = convert(field, request.params[next_param++]);
        if (!value) return value.error();
        args[arg] = std::move(*value);
        break;
      }
      case From::query: {
        auto text = query_param(request.query, field.name);
        if (!text) break;
        auto value = convert(field, *text);
        if (!value) return value.error();
        args[arg] = std::move(*value);
        break;
      }
      case From::body: {
        const auto* value = body.if_contains(field.name);
        if (!value || (value->is_null() && !field.keeps_null)) {
          if (field.required) {
            return make_error(Errc::bad_request, "'" + std::string(field.name) + "' is required");
          }
          break;
        }
        args[arg] = *value;
        break;
      }
    }
  }
  if (route.generate_client_msg_id && !args.contains("client_msg_id")) {
    args["client_msg_id"] = request_ids().uuid_v7(SystemClock().now_ms());
  }
  return args;
}

asio::awaitable<HttpResponse> handle_rest(ApiContext& ctx, const RestRoute& route,
                                          const Operation& operation, HttpRequest& request) {
  if (!ctx.options.fault_throw_on_path.empty() && request.path == ctx.options.fault_throw_on_path) {
    throw std::runtime_error("injected fault: PARLEY_FAULT_THROW_ON_PATH=" + request.path);
  }
  const Operation* op = &operation;
  std::optional<Caller> caller;
  if (op->needs_caller) {
    auto token = bearer_token(request.authorization);
    if (!token) {
      co_return error_response(
          make_error(Errc::unauthenticated, "an Authorization: Bearer token is required"));
    }
    auto who = ctx.service.authenticate(*token);
    if (!who) co_return error_response(who.error());
    caller = std::move(*who);
  }
  auto args = rest_arguments(route, request);
  if (!args) co_return error_response(args.error());
  const std::string client = client_address(ctx.options.throttle.trusted_proxies, request.remote,
                                            request.forwarded_for);
  if (op->throttle != Throttle::none) {
    auto refused = co_await admit(ctx, op->throttle, *args, client, caller ? &*caller : nullptr);
    if (refused) co_return refusal_response(*refused);
  }
  OpCall call{ctx, caller ? &*caller : nullptr, *args};
  call.default_device = request.user_agent;
  auto reply = op->run(call);
  OpResult result = make_error(Errc::internal, "operation answered later without a session");
  if (auto* now = std::get_if<OpResult>(&reply)) {
    result = std::move(*now);
  } else if (auto* coroutine = std::get_if<asio::awaitable<OpResult>>(&reply)) {
    result = co_await std::move(*coroutine);
  }
  if (op->throttle != Throttle::none) {
    // Named first: GCC 12 frees a temporary that owns memory inside co_await twice (net/offload.hpp).
    const Status outcome = result ? ok_status() : Status(result.error());
    co_await record_outcome(ctx, op->throttle, *args, client, caller ? &*caller : nullptr,
                            outcome);
  }
  if (!result) co_return error_response(in_rest_names(route, result.error()));
  if (!route.unwrap.empty()) {
    if (auto* inner = result->if_contains(route.unwrap)) co_return json_response(op->rest_status, *inner);
  }
  co_return json_response(op->rest_status, *result);
}

void add_rest_routes(net::Router& router, ApiContext& ctx) {
  router.add("GET", "/healthz", health);
  router.add("GET", "/metrics", [&ctx](HttpRequest&) -> asio::awaitable<HttpResponse> {
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = ctx.metrics ? ctx.metrics() : std::string();
    co_return r;
  });
  add_operation_routes(router, ctx, kRoutes, operations());
}

void add_operation_routes(net::Router& router, ApiContext& ctx, std::span<const RestRoute> routes,
                          std::span<const Operation> ops) {
  for (const auto& route : routes) {
    const auto op = std::find_if(ops.begin(), ops.end(),
                                 [&](const Operation& o) { return o.name == route.operation; });
    if (op == ops.end()) {
      throw std::logic_error("REST route " + std::string(route.pattern) + " names no operation");
    }
    router.add(std::string(route.method), std::string(route.pattern),
               [&ctx, &route, &op = *op](HttpRequest& request) {
                 return handle_rest(ctx, route, op, request);
               });
  }
}

}  // namespace parley::api
