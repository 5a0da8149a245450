#include "service/push_subscriptions.hpp"

#include <cctype>

#include "auth/base64.hpp"
#include "net/web_client.hpp"

namespace parley {

namespace {

constexpr std::size_t kMaxUrl = 2048;
constexpr std::size_t kMaxToken = 4096;
constexpr std::size_t kMaxPushkey = 512;

Error bad(std::string message) { return make_error(Errc::bad_request, std::move(message)); }

// An http(s) URL fetch() will call: https, or http to this machine (development).
Result<net::WebUrl> check_url(std::string_view url, std::string_view what) {
  if (url.empty()) return bad(std::string(what) + " is required");
  if (url.size() > kMaxUrl) return bad(std::string(what) + " is longer than 2048 characters");
  auto parsed = net::parse_web_url(url);
  if (!parsed) return bad(std::string(what) + ": " + parsed.error().message);
  if (!parsed->tls && !net::is_loopback(parsed->host)) {
    return bad(std::string(what) + " must be https:// (plain http only to this machine)");
  }
  return parsed;
}

// host is `pattern`, or a subdomain of D for a pattern "*.D" (case-insensitive).
bool host_matches(std::string host, std::string pattern) {
  for (auto* text : {&host, &pattern}) {
    for (auto& c : *text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (pattern.starts_with("*.")) {
    return host.size() > pattern.size() - 1 && host.ends_with(pattern.substr(1));
  }
  return host == pattern;
}

// The same scheme, host and port as `gateway`, and its path or one below it.
bool under_gateway(const net::WebUrl& url, std::string_view gateway) {
  auto g = net::parse_web_url(gateway);
  if (!g || g->tls != url.tls || !host_matches(url.host, g->host) || g->port != url.port) {
    return false;
  }
  const std::string_view path = std::string_view(url.target).substr(0, url.target.find('?'));
  std::string_view base = g->target;
  if (base.ends_with('/')) base.remove_suffix(1);
  return path == base || (path.starts_with(base) && path.size() > base.size() &&
                          path[base.size()] == '/');
}

}  // namespace

PushSubscriptions::PushSubscriptions(PushCatalog& catalog, const Clock& clock,
                                     PushSubscriptionOptions options)
    : catalog_(catalog), clock_(clock), options_(std::move(options)) {}

Result<PushSubscription> PushSubscriptions::subscribe(const Caller& caller,
                                                      const PushSubscribeRequest& r) {
  PushSubscription s;
  s.user_id = caller.user_id;
  s.session_id = caller.session_id;
  s.created_at = clock_.now_ms();
  const std::string type = r.type.empty() && !r.endpoint.empty() ? "web_push" : r.type;
  const auto kind = push_kind_from_string(type);
  if (!kind) return bad("'type' must be web_push, webhook or fcm");
  s.kind = *kind;
  switch (*kind) {
    case PushSubscription::Kind::web_push: {
      if (!options_.web_push) {
        return make_error(Errc::unavailable,
                          "Web Push is off on this node (a cluster needs --vapid-key-file)");
      }
      auto url = check_url(r.endpoint, "'endpoint'");
      if (!url) return url.error();
      bool known = false;
      for (const auto& host : options_.web_push_services) known = known || host_matches(url->host, host);
      if (!known) {
        return make_error(Errc::forbidden, "'endpoint' is not at a push service this server sends "
                                           "to (--web-push-services)");
      }
      const auto p256dh = auth::base64url_decode(r.p256dh);
      if (!p256dh || p256dh->size() != 65 || (*p256dh)[0] != 0x04) {
        return bad("'keys.p256dh' must be the base64url of an uncompressed P-256 point (65 bytes)");
      }
      const auto secret = auth::base64url_decode(r.auth);
      if (!secret || secret->size() != 16) {
        return bad("'keys.auth' must be the base64url of 16 bytes");
      }
      s.endpoint = r.endpoint;
      s.key = r.p256dh;
      s.secret = r.auth;
      break;
    }
    case PushSubscription::Kind::webhook: {
      auto url = check_url(r.url, "'url'");
      if (!url) return url.error();
      bool allowed = false;
      for (const auto& gateway : options_.gateways) allowed = allowed || under_gateway(*url, gateway);
      if (!allowed) {
        return make_error(Errc::forbidden,
                          options_.gateways.empty()
                              ? "this server accepts no webhook gateways (--push-gateways)"
                              : "this gateway is not one the server allows (--push-gateways)");
      }
      if (r.pushkey.empty() || r.pushkey.size() > kMaxPushkey) {
        return bad("'pushkey' is required, at most 512 characters");
      }
      if (r.token.size() > kMaxToken) return bad("'token' is longer than 4096 characters");
      s.endpoint = r.url;
      s.key = r.pushkey;
      s.secret = r.token;
      break;
    }
    case PushSubscription::Kind::fcm:
      if (!options_.fcm) {
        return make_error(Errc::unavailable, "FCM is off on this node (--fcm-service-account)");
      }
      if (r.token.empty() || r.token.size() > kMaxToken) {
        return bad("'token' is required, at most 4096 characters");
      }
      s.endpoint = r.token;
      break;
  }
  return catalog_.put_push_subscription(s, options_.max_per_user);
}

Result<std::vector<PushSubscription>> PushSubscriptions::list(const Caller& caller) {
  return catalog_.push_subscriptions_of(caller.user_id);
}

Status PushSubscriptions::remove(const Caller& caller, std::int64_t id) {
  return catalog_.remove_push_subscription(caller.user_id, id);
}

Status PushSubscriptions::mute(const Caller& caller, std::string_view conv, TimeMs muted_until) {
  return catalog_.set_push_mute(caller.user_id, conv, std::max<TimeMs>(0, muted_until));
}

Result<TimeMs> PushSubscriptions::muted_until(const Caller& caller, std::string_view conv) {
  auto until = catalog_.push_mute(caller.user_id, conv);
  if (!until) return until;
  return *until > clock_.now_ms() ? *until : TimeMs{0};
}

}  // namespace parley
