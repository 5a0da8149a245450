#pragma once
// WebPushSender: notifications to browsers through their push service (RFC 8030), the payload
// encrypted for the subscription (RFC 8291, aes128gcm) and the request signed with the node's
// VAPID key (RFC 8292): POST <endpoint> with TTL, Urgency, Topic, Content-Encoding and
// Authorization: vapid t=<JWT aud=endpoint's origin, exp ≤ 12 h, sub=--vapid-subject>, k=<key>.
//
// Threads: send() from the dispatcher's workers, concurrently (each call its own connection).

#include <chrono>
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
  const VapidKey& key_;
  const WebPushOptions options_;
};

}  // namespace parley::push
