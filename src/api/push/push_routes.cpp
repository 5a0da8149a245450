// The push-notification routes (docs/protocol.md, "Push notifications"): the VAPID key, the
// caller's subscriptions, per-conversation mute. REST only; the operations are this module's own
// table, bound by add_operation_routes.
//
// Threads: handlers run on the connection's shard; the catalog is called on the blocking pool.
#include "api/push/push_routes.hpp"

#include <boost/json.hpp>

#include "api/codec.hpp"
#include "api/operations.hpp"
#include "api/rest_routes.hpp"
#include "core/time.hpp"
#include "net/router.hpp"
#include "service/push_subscriptions.hpp"

namespace parley::api {

namespace {

json::object subscription_json(const PushSubscription& s, chat::SessionId current) {
  json::object o{{"id", s.id},
                 {"type", to_string(s.kind)},
                 {"created_at", format_rfc3339(s.created_at)},
                 {"current", s.session_id == current}};
  // Secrets (keys, tokens) are never read back.
  if (s.kind == PushSubscription::Kind::web_push) o["endpoint"] = s.endpoint;
  if (s.kind == PushSubscription::Kind::webhook) {
    o["url"] = s.endpoint;
    o["pushkey"] = s.key;
  }
  return o;
}

PushSubscriptions& subscriptions(OpCall& call) { return *call.ctx.push; }

// Optional string fields of a subscription: absent or a string.
Result<std::string> text_field(const json::object& o, std::string_view key) {
  auto v = opt_string(o, key);
  if (!v) return v.error();
  return v->value_or("");
}

// {type?, endpoint, keys: {p256dh, auth}} | {type: "webhook", url, pushkey, token?} |
// {type: "fcm", token}
OpReply push_subscribe(OpCall& call) {
  PushSubscribeRequest r;
  for (auto [field, key] : {std::pair{&r.type, "type"}, {&r.endpoint, "endpoint"},
                            {&r.url, "url"}, {&r.pushkey, "pushkey"}, {&r.token, "token"}}) {
    auto v = text_field(call.args, key);
    if (!v) return v.error();
    *field = std::move(*v);
  }
  if (const auto* keys = call.args.if_contains("keys")) {
    if (!keys->is_object()) return make_error(Errc::bad_request, "'keys' must be an object");
    auto p256dh = text_field(keys->as_object(), "p256dh");
    if (!p256dh) return p256dh.error();
    auto auth = text_field(keys->as_object(), "auth");
    if (!auth) return auth.error();
    r.p256dh = std::move(*p256dh);
    r.auth = std::move(*auth);
  }
  return blocking(
      call.ctx,
      [&push = subscriptions(call), caller = *call.caller, r = std::move(r)] {
        return push.subscribe(caller, r);
      },
      [current = call.caller->session_id](const PushSubscription& s) {
        return subscription_json(s, current);
      });
}

OpReply push_subscriptions(OpCall& call) {
  return blocking(
      call.ctx, [&push = subscriptions(call), caller = *call.caller] { return push.list(caller); },
      [current = call.caller->session_id](const std::vector<PushSubscription>& list) {
        json::array out;
        for (const auto& s : list) out.push_back(subscription_json(s, current));
        return json::object{{"subscriptions", std::move(out)}};
      });
}

OpReply push_unsubscribe(OpCall& call) {
  auto id = req_int(call.args, "subscription");
  if (!id) return id.error();
  return blocking(
      call.ctx,
      [&push = subscriptions(call), caller = *call.caller, id = *id] {
        return push.remove(caller, id);
      },
      [](Unit) { return json::object{{"ok", true}}; });
}

json::object mute_json(const std::string& conv, TimeMs until) {
  return json::object{{"conv", conv},
                      {"muted_until", until > 0 ? json::value(format_rfc3339(until)) : nullptr}};
}

// {conv, muted_until: RFC 3339 time | null}
OpReply push_mute(OpCall& call) {
  auto conv = req_string(call.args, "conv");
  if (!conv) return conv.error();
  const auto* value = call.args.if_contains("muted_until");
  if (!value) return make_error(Errc::bad_request, "'muted_until' is required (a time, or null)");
  TimeMs until = 0;
  if (value->is_string()) {
    auto parsed = parse_rfc3339(value->as_string());
    if (!parsed) {
      return make_error(Errc::bad_request, "'muted_until' must be an RFC 3339 time or null");
    }
    until = *parsed;
  } else if (!value->is_null()) {
    return make_error(Errc::bad_request, "'muted_until' must be an RFC 3339 time or null");
  }
  return blocking(
      call.ctx,
      [&push = subscriptions(call), caller = *call.caller, conv = *conv, until] {
        return push.mute(caller, conv, until);
      },
      [conv = *conv, until](Unit) { return mute_json(conv, until); });
}

OpReply push_mute_get(OpCall& call) {
  auto conv = req_string(call.args, "conv");
  if (!conv) return conv.error();
  return blocking(
      call.ctx,
      [&push = subscriptions(call), caller = *call.caller, conv = *conv] {
        return push.muted_until(caller, conv);
      },
      [conv = *conv](TimeMs until) { return mute_json(conv, until); });
}

constexpr bool kRestOnly = false;

constexpr std::array kPushOperations{
    // name, needs_caller, on_sockets, rest_status, after_subscribed, run
    Operation{"push_subscribe", true, kRestOnly, 201, false, push_subscribe},
    Operation{"push_subscriptions", true, kRestOnly, 200, false, push_subscriptions},
    Operation{"push_unsubscribe", true, kRestOnly, 200, false, push_unsubscribe},
    Operation{"push_mute", true, kRestOnly, 200, false, push_mute},
    Operation{"push_mute_get", true, kRestOnly, 200, false, push_mute_get},
};

using F = RestField;
using Kind = RestField::Kind;
constexpr F body(std::string_view name) { return F{F::From::body, name}; }

constexpr RestRoute kPushRoutes[] = {
    {"POST", "/push/subscriptions", "push_subscribe",
     {body("type"), body("endpoint"), body("keys"), body("url"), body("pushkey"), body("token")},
     true},
    {"GET", "/push/subscriptions", "push_subscriptions", {}, false},
    {"DELETE", "/push/subscriptions/{}", "push_unsubscribe",
     {F{F::From::path, "subscription", {}, Kind::positive_integer, true}}, false},
    {"PUT", "/conversations/{}/notifications", "push_mute",
     {F{F::From::path, "conv", {}, Kind::text, true},
      F{F::From::body, "muted_until", {}, Kind::text, false, true}},
     true},
    {"GET", "/conversations/{}/notifications", "push_mute_get",
     {F{F::From::path, "conv", {}, Kind::text, true}}, false},
};

}  // namespace

void add_push_routes(net::Router& router, ApiContext& ctx, std::string vapid_public_key_b64) {
  router.add("GET", "/push/vapid-public-key",
             [key = std::move(vapid_public_key_b64)](net::HttpRequest&) -> boost::asio::awaitable<net::HttpResponse> {
               if (key.empty()) {
                 co_return error_response(make_error(
                     Errc::not_found, "Web Push is off on this node (a cluster needs --vapid-key-file)"));
               }
               co_return json_response(200, boost::json::object{{"public_key", key}});
             });
  if (ctx.push) add_operation_routes(router, ctx, kPushRoutes, kPushOperations);
}

}  // namespace parley::api
