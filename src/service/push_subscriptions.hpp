#pragma once
// PushSubscriptions: what a person says about push notifications (docs/protocol.md, "Push
// notifications") — the devices to notify, one per login session, and per-conversation mute.
// Checks what clients send before the catalog stores it; the dispatcher
// (service/push_dispatcher.hpp) does the sending.
//
// Threads: every method blocks (the store): call from the blocking pool.

#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/time.hpp"
#include "service/chat_service.hpp"
#include "store/push_catalog.hpp"

namespace parley {

struct PushSubscriptionOptions {
  bool web_push = false;  // the node has a VAPID key
  bool fcm = false;       // the node has an FCM service account
  // Webhook gateways a subscription may name (--push-gateways): its URL must be one, or under
  // one's path. Empty: webhook subscriptions are refused (the server would POST wherever a
  // client says).
  std::vector<std::string> gateways;
  // The hosts of the push services browsers subscribe at (--web-push-services): a name, or
  // "*.domain" for its subdomains. Web Push endpoints elsewhere are refused, so that clients
  // cannot make the server POST to other hosts (its own network).
  std::vector<std::string> web_push_services;
  int max_per_user = 20;
};

// POST /push/subscriptions, as parsed from its JSON.
struct PushSubscribeRequest {
  std::string type;  // "web_push" (the default when `endpoint` and `keys` are given), "webhook", "fcm"
  std::string endpoint;  // web_push
  std::string p256dh;    // web_push: keys.p256dh
  std::string auth;      // web_push: keys.auth
  std::string url;       // webhook
  std::string pushkey;   // webhook
  std::string token;     // webhook (bearer, optional) or fcm (registration token)
};

class PushSubscriptions {
 public:
  PushSubscriptions(PushCatalog& catalog, const Clock& clock, PushSubscriptionOptions options);

  // Stores the caller's session's subscription (replacing its earlier one). bad_request for
  // what is malformed; forbidden for a gateway not allowed; unavailable for a kind this node
  // does not send; too_large past max_per_user.
  Result<PushSubscription> subscribe(const Caller& caller, const PushSubscribeRequest& request);
  Result<std::vector<PushSubscription>> list(const Caller& caller);
  Status remove(const Caller& caller, std::int64_t id);
  // muted_until 0 unmutes. not_found when the caller is not a member of conv.
  Status mute(const Caller& caller, std::string_view conv, TimeMs muted_until);
  Result<TimeMs> muted_until(const Caller& caller, std::string_view conv);

  const PushSubscriptionOptions& options() const { return options_; }

 private:
  PushCatalog& catalog_;
  const Clock& clock_;
  const PushSubscriptionOptions options_;
};

}  // namespace parley
