#pragma once
// WebPushSender: notifications to browsers through their push service (RFC 8030), the payload
// encrypted for the subscription (RFC 8291, aes128gcm) and the request signed with the node's
// VAPID key (RFC 8292): POST <endpoint> with TTL, Urgency, Topic, Content-Encoding and
// Authorization: vapid t=<JWT aud=endpoint's origin, exp ≤ 12 h, sub=--vapid-subject>, k=<key>.
//
// Threads: send() from the dispatcher's workers, concurrently (the signed headers and the
// subscriptions' keys are shared under a mutex).

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "push/sender.hpp"
#include "push/web_push.hpp"

namespace parley::push {

struct WebPushOptions {
  std::string subject;  // --vapid-subject: mailto: or https:
  std::chrono::milliseconds timeout{10'000};
};

class WebPushSender final : public Sender {
 public:
  WebPushSender(const VapidKey& key, WebPushOptions options);
  SendOutcome send(const PushSubscription& to, const Notification& n) override;

 private:
  // The Authorization header for a push service's origin: signed once per origin and reused
  // until an hour before it expires (an ECDSA signature per push is most of a send's CPU).
  Result<std::string> authorization(const std::string& origin, std::int64_t now_s);

  // The subscription's keys, read and checked once per subscription rather than per push.
  Result<Receiver> receiver(const PushSubscription& to);

  const VapidKey& key_;
  const WebPushOptions options_;
  std::mutex mutex_;
  struct Signed {
    std::string header;
    std::int64_t expires_at_s = 0;
  };
  std::map<std::string, Signed> signed_;        // by origin; guarded by mutex_
  // By subscription id, with the (base64url) keys they were read from; guarded by mutex_.
  std::map<std::int64_t, std::pair<std::string, Receiver>> receivers_;
};

}  // namespace parley::push
