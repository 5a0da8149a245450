#include "push/fcm_sender.hpp"

#include <boost/json.hpp>

#include "auth/base64.hpp"
#include "core/url.hpp"
#include "net/web_client.hpp"
#include "push/pkey.hpp"

namespace parley::push {

namespace json = boost::json;

namespace {

constexpr const char* kScope = "https://www.googleapis.com/auth/firebase.messaging";
constexpr std::int64_t kAssertionSeconds = 3600;  // the most Google accepts
constexpr TimeMs kRenewEarlyMs = 60'000;

std::string field(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

struct FcmSender::Account {
  std::string project;
  std::string client_email;
  std::string private_key_id;
  Pkey key;
};

Result<std::unique_ptr<FcmSender>> FcmSender::create(const FcmOptions& options, const Clock& clock) {
  json::error_code ec;
  auto parsed = json::parse(options.service_account_json, ec);
  if (ec || !parsed.is_object()) return make_error(Errc::bad_request, "not a JSON object");
  const auto& o = parsed.as_object();
  auto account = std::make_unique<Account>();
  account->client_email = field(o, "client_email");
  account->private_key_id = field(o, "private_key_id");
  account->key = private_key_from_pem(field(o, "private_key"));
  FcmOptions resolved = options;
  if (resolved.token_url.empty()) resolved.token_url = field(o, "token_uri");
  account->project = field(o, "project_id");
  if (account->project.empty() || account->client_email.empty()) {
    return make_error(Errc::bad_request, "a service account needs project_id and client_email");
  }
  if (!account->key || !EVP_PKEY_is_a(account->key.get(), "RSA")) {
    return make_error(Errc::bad_request, "private_key is not a PEM RSA private key");
  }
  if (!net::parse_web_url(resolved.token_url) || !net::parse_web_url(resolved.endpoint)) {
    return make_error(Errc::bad_request, "the token URL (token_uri) and the endpoint must be http(s) URLs");
  }
  return std::unique_ptr<FcmSender>(new FcmSender(std::move(account), resolved, clock));
}

FcmSender::FcmSender(std::unique_ptr<Account> account, const FcmOptions& options, const Clock& clock)
    : account_(std::move(account)),
      project_(account_->project),
      send_url_(options.endpoint + (options.endpoint.ends_with('/') ? "" : "/") + "v1/projects/" +
                percent_encode(project_) + "/messages:send"),
      token_url_(options.token_url),
      timeout_(options.timeout),
      clock_(clock) {}

FcmSender::~FcmSender() = default;

Result<std::string> FcmSender::access_token(bool renew) {
  std::lock_guard lock(mutex_);
  const TimeMs now = clock_.now_ms();
  if (!renew && !token_.empty() && now < token_until_) return token_;
  const std::int64_t iat = now / 1000;
  json::object header{{"alg", "RS256"}, {"typ", "JWT"}};
  if (!account_->private_key_id.empty()) header["kid"] = account_->private_key_id;
  const std::string signed_part =
      auth::base64url_encode(json::serialize(header)) + "." +
      auth::base64url_encode(json::serialize(json::object{{"iss", account_->client_email},
                                                           {"scope", kScope},
                                                           {"aud", token_url_},
                                                           {"iat", iat},
                                                           {"exp", iat + kAssertionSeconds}}));
  const auto signature = sign_sha256(account_->key.get(), signed_part);
  if (!signature) return make_error(Errc::internal, "could not sign the FCM assertion");
  const std::string assertion = signed_part + "." + auth::base64url_encode(*signature);
  net::FetchOptions options;
  options.timeout = timeout_;
  auto r = net::fetch("POST", token_url_, {{"Content-Type", "application/x-www-form-urlencoded"}},
                      "grant_type=" + percent_encode("urn:ietf:params:oauth:grant-type:jwt-bearer") +
                          "&assertion=" + assertion,
                      options);
  if (!r) return r.error();
  json::error_code ec;
  auto answer = json::parse(r->body, ec);
  if (r->status != 200 || ec || !answer.is_object() || field(answer.as_object(), "access_token").empty()) {
    return make_error(Errc::unavailable, "the FCM token endpoint answered " +
                                             std::to_string(r->status) + ": " + r->body.substr(0, 200));
  }
  token_ = field(answer.as_object(), "access_token");
  std::int64_t expires_in = 3600;
  if (const auto* e = answer.as_object().if_contains("expires_in"); e && e->is_int64()) {
    expires_in = e->as_int64();
  }
  token_until_ = now + expires_in * 1000 - kRenewEarlyMs;
  return token_;
}

SendOutcome FcmSender::send(const PushSubscription& to, const Notification& n) {
  using Kind = SendOutcome::Kind;
  json::error_code ec;
  auto payload = json::parse(n.payload, ec);
  if (ec || !payload.is_object()) return {Kind::failed, 0, std::nullopt, "the payload is not JSON"};
  // FCM's data values are strings.
  json::object data;
  for (const auto& [k, v] : payload.as_object()) {
    data[k] = v.is_string() ? std::string(v.as_string()) : json::serialize(v);
  }
  data["id"] = n.idempotency_key;
  const auto& p = payload.as_object();
  json::object message{
      {"token", to.endpoint},
      {"data", std::move(data)},
      {"notification", json::object{{"title", field(p, "title")}, {"body", field(p, "body")}}},
      {"android", json::object{{"collapse_key", n.topic},
                               {"ttl", std::to_string(n.ttl.count()) + "s"},
                               {"notification", json::object{{"tag", n.topic}}}}},
      {"apns", json::object{{"headers", json::object{{"apns-collapse-id", n.topic}}}}}};
  const std::string body = json::serialize(json::object{{"message", std::move(message)}});
  net::FetchOptions options;
  options.timeout = timeout_;
  options.max_body = 64 * 1024;
  options.keep_alive = true;  // one endpoint, many pushes
  for (int attempt = 0;; ++attempt) {
    auto token = access_token(attempt > 0);
    if (!token) return {Kind::retry, 0, std::nullopt, token.error().message};
    auto r = net::fetch("POST", send_url_,
                        {{"Authorization", "Bearer " + *token}, {"Content-Type", "application/json"}},
                        body, options);
    // (The URL is the configured endpoint, not the subscription's: no answer is worth a retry.)
    if (!r) return {Kind::retry, 0, std::nullopt, r.error().message};
    if (r->status == 401 && attempt == 0) continue;  // the token was revoked or expired early
    auto outcome = outcome_of(*r, clock_.now_ms() / 1000);
    if (r->body.find("\"UNREGISTERED\"") != std::string::npos) outcome.kind = Kind::gone;
    return outcome;
  }
}

}  // namespace parley::push
