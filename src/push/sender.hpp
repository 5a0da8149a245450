#pragma once
// Sender: one way of handing a notification to a device's push service — Web Push
// (push/web_push_sender.hpp), a webhook gateway (push/webhook_sender.hpp), FCM
// (push/fcm_sender.hpp). The dispatcher (push/dispatcher.hpp) picks the sender by the
// subscription's kind, and acts on the outcome: removes a subscription the service says is gone,
// retries what may succeed later, drops the rest.
//
// Threads: send() runs on the dispatcher's workers, several at once: implementations are
// thread-safe and may block (an HTTP exchange with a deadline).

#include <chrono>
#include <optional>
#include <string>

#include "core/result.hpp"
#include "net/http_client.hpp"
#include "store/push_catalog.hpp"

namespace parley::push {

// What to send to one device.
struct Notification {
  std::string payload;          // the JSON of push/notification.hpp
  std::string idempotency_key;  // the job's: "<subscription>:<conversation>:<seq>"
  std::string topic;            // collapses a conversation's notifications (Web Push Topic)
  std::chrono::seconds ttl{0};  // how long the push service should keep it for an offline device
};

struct SendOutcome {
  enum class Kind : std::uint8_t {
    sent,    // the push service took it
    gone,    // the subscription no longer exists (404, 410, FCM UNREGISTERED): remove it
    retry,   // may work later (429, 5xx, timeouts, unreachable)
    failed,  // will not work as it is (other 4xx): dropped and logged
  };
  Kind kind = Kind::failed;
  int status = 0;  // the HTTP status, 0 when there was none
  // The service's Retry-After, when it gave one.
  std::optional<std::chrono::seconds> retry_after;
  std::string detail;  // for the log

  static SendOutcome from_status(int status, std::optional<std::chrono::seconds> retry_after,
                                 std::string detail);
};

class Sender {
 public:
  virtual ~Sender() = default;
  virtual SendOutcome send(const PushSubscription& to, const Notification& n) = 0;
};

// Retry-After as delay-seconds (RFC 9110 §10.2.3; an HTTP date counts from `now_s`).
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, std::int64_t now_s);

// What a push service's answer means: its status (from_status), its Retry-After, and the start
// of its body for the log.
SendOutcome outcome_of(const net::ClientResponse& response, std::int64_t now_s);
// A request to a subscription's URL that got no answer: a URL fetch() refuses outright
// (Errc::bad_request: not one it may call) is no subscription; anything else may work later.
SendOutcome unanswered(const Error& error);

}  // namespace parley::push
