#pragma once
// FcmSender: notifications to Android and iOS apps through Firebase Cloud Messaging's HTTP v1
// API, as a service account: an OAuth access token obtained with a self-signed RS256 JWT
// (RFC 7523: iss = the account's client_email, scope firebase.messaging, aud = its token_uri,
// an hour at most), cached until a minute before it expires and renewed once on a 401; then
//   POST <endpoint>/v1/projects/<project_id>/messages:send
//   {"message": {"token": <registration token>, "data": {…the notification, as strings…},
//                "notification": {title, body}, "android": {collapse_key, ttl},
//                "apns": {headers: {apns-collapse-id}}}}
// 404 (UNREGISTERED) removes the subscription; 429 and 5xx are retried.
// The endpoint and the token URL are configurable so that tests point them at a local fake.
//
// Threads: send() from the dispatcher's workers, concurrently; the token cache is guarded.

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "core/result.hpp"
#include "core/time.hpp"
#include "push/sender.hpp"

namespace parley::push {

struct FcmOptions {
  std::string service_account_json;  // the file's contents (--fcm-service-account)
  std::string endpoint = "https://fcm.googleapis.com";  // --fcm-endpoint
  std::string token_url;  // --fcm-token-url; default: the account's token_uri
  std::chrono::milliseconds timeout{10'000};
};

class FcmSender final : public Sender {
 public:
  // Errc::bad_request when the service account is not one (the message says what is missing).
  static Result<std::unique_ptr<FcmSender>> create(const FcmOptions& options, const Clock& clock);
  ~FcmSender() override;
  SendOutcome send(const PushSubscription& to, const Notification& n) override;
  const std::string& project() const { return project_; }

 private:
  struct Account;
  FcmSender(std::unique_ptr<Account> account, const FcmOptions& options, const Clock& clock);
  // The cached access token, or a new one (renew: the cached one was refused).
  Result<std::string> access_token(bool renew);

  std::unique_ptr<Account> account_;
  const std::string project_;
  const std::string send_url_;
  const std::string token_url_;
  const std::chrono::milliseconds timeout_;
  const Clock& clock_;
  std::mutex mutex_;
  std::string token_;       // guarded by mutex_
  TimeMs token_until_ = 0;  // guarded by mutex_: renew after this
};

}  // namespace parley::push
