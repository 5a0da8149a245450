#pragma once
// WebhookSender: notifications POSTed as JSON to a push gateway the operator runs (like a Matrix
// push gateway), which bridges them to any provider (docs/protocol.md, "Webhook gateways"):
//
//   POST <gateway URL>
//   Authorization: Bearer <the subscription's token>       (when it has one)
//   Idempotency-Key: <subscription>:<conversation>:<seq>   (the same on a retry: deduplicate)
//   {"notification": {…the notification's fields…, "id": <the key>,
//                     "devices": [{"pushkey": <the subscription's key>}]}}
//
// A 2xx answer is success — unless its JSON lists the device's pushkey under "rejected", which
// (as 404 and 410) removes the subscription.
//
// Threads: send() from the dispatcher's workers, concurrently (each call its own connection).

#include <chrono>

#include "push/sender.hpp"

namespace parley::push {

class WebhookSender final : public Sender {
 public:
  explicit WebhookSender(std::chrono::milliseconds timeout) : timeout_(timeout) {}
  SendOutcome send(const PushSubscription& to, const Notification& n) override;

 private:
  const std::chrono::milliseconds timeout_;
};

}  // namespace parley::push
