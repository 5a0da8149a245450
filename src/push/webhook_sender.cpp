#include "push/webhook_sender.hpp"

#include <boost/json.hpp>

#include "core/time.hpp"
#include "net/web_client.hpp"

namespace parley::push {

namespace json = boost::json;

SendOutcome WebhookSender::send(const PushSubscription& to, const Notification& n) {
  using Kind = SendOutcome::Kind;
  json::error_code ec;
  auto fields = json::parse(n.payload, ec);
  if (ec || !fields.is_object()) return {Kind::failed, 0, std::nullopt, "the payload is not JSON"};
  auto& notification = fields.as_object();
  notification["id"] = n.idempotency_key;
  notification["devices"] = json::array{json::object{{"pushkey", to.key}}};
  const std::string body = json::serialize(json::object{{"notification", std::move(notification)}});
  std::vector<std::pair<std::string, std::string>> headers{
      {"Content-Type", "application/json"}, {"Idempotency-Key", n.idempotency_key}};
  if (!to.secret.empty()) headers.emplace_back("Authorization", "Bearer " + to.secret);
  net::FetchOptions options;
  options.timeout = timeout_;
  options.max_body = 64 * 1024;
  options.keep_alive = true;  // one gateway, many pushes
  auto response = net::fetch("POST", to.endpoint, headers, body, options);
  if (!response) return unanswered(response.error());
  auto outcome = outcome_of(*response, SystemClock().now_ms() / 1000);
  if (outcome.kind == Kind::sent) {
    auto answer = json::parse(response->body, ec);
    if (!ec && answer.is_object()) {
      if (const auto* rejected = answer.as_object().if_contains("rejected");
          rejected && rejected->is_array()) {
        for (const auto& key : rejected->as_array()) {
          if (key.is_string() && key.as_string() == to.key) outcome.kind = Kind::gone;
        }
      }
    }
  }
  return outcome;
}

}  // namespace parley::push
