#include "push/web_push_sender.hpp"

#include <fmt/format.h>

#include "auth/base64.hpp"
#include "core/time.hpp"
#include "net/web_client.hpp"

namespace parley::push {

WebPushSender::WebPushSender(const VapidKey& key, WebPushOptions options)
    : key_(key), options_(std::move(options)) {}

Result<std::string> WebPushSender::authorization(const std::string& origin, std::int64_t now_s) {
  std::lock_guard lock(mutex_);
  if (signed_.size() > 1000 && !signed_.contains(origin)) signed_.clear();  // bounded
  auto& cached = signed_[origin];
  if (cached.expires_at_s - now_s > 3600) return cached.header;
  // RFC 8292 §2: exp at most 24 h ahead; 12 h leaves room for clock skew.
  auto header = key_.authorization(origin, options_.subject, now_s + 12 * 3600);
  if (!header) return header;
  cached = Signed{*header, now_s + 12 * 3600};
  return header;
}

Result<Receiver> WebPushSender::receiver(const PushSubscription& to) {
  {
    std::lock_guard lock(mutex_);
    const auto it = receivers_.find(to.id);
    if (it != receivers_.end() && it->second.first == to.key + to.secret) return it->second.second;
  }
  const auto p256dh = auth::base64url_decode(to.key);
  const auto secret = auth::base64url_decode(to.secret);
  if (!p256dh || !secret) return make_error(Errc::bad_request, "the subscription's keys are not base64url");
  auto read = Receiver::from(SubscriptionKeys{*p256dh, *secret});
  if (!read) return read;
  std::lock_guard lock(mutex_);
  if (receivers_.size() >= 10'000) receivers_.clear();  // bounded; they are read again
  receivers_.insert_or_assign(to.id, std::pair{to.key + to.secret, *read});
  return read;
}

SendOutcome WebPushSender::send(const PushSubscription& to, const Notification& n) {
  using Kind = SendOutcome::Kind;
  auto receiver = this->receiver(to);
  if (!receiver) return {Kind::gone, 0, std::nullopt, receiver.error().message};
  auto body = encrypt(n.payload, *receiver);
  if (!body) return {Kind::gone, 0, std::nullopt, body.error().message};
  const auto origin = endpoint_origin(to.endpoint);
  if (!origin) return {Kind::gone, 0, std::nullopt, "the endpoint is not an http(s) URL"};
  const std::int64_t now_s = SystemClock().now_ms() / 1000;
  auto authorization = this->authorization(*origin, now_s);
  if (!authorization) return {Kind::failed, 0, std::nullopt, authorization.error().message};
  net::FetchOptions fetch_options;
  fetch_options.timeout = options_.timeout;
  fetch_options.max_body = 64 * 1024;
  fetch_options.keep_alive = true;  // a few push services, many pushes
  auto response = net::fetch("POST", to.endpoint,
                             {{"Authorization", *authorization},
                              {"TTL", std::to_string(n.ttl.count())},
                              {"Urgency", "normal"},
                              {"Topic", n.topic},
                              {"Content-Type", "application/octet-stream"},
                              {"Content-Encoding", "aes128gcm"}},
                             *body, fetch_options);
  if (!response) return unanswered(response.error());
  return outcome_of(*response, now_s);
}

}  // namespace parley::push
