#pragma once
// Throttling of the operations that cost a password hash or invite guessing (docs/operations.md,
// "Rate limits"): an Operation names its Throttle, and every transport runs admit() before it and
// record_outcome() after it, so a limit is one entry in the operations table.
//
//   login         attempts back off per client address, per (account, address) and per account
//                 (ratelimit::Backoff): counted as they start, refunded unless the credentials
//                 were wrong; a success clears its (account, address) key
//   passcode      joining a group with a passcode: the same, per (user, group)
//   second_factor TOTP and recovery codes: the same, per user (the one a login challenge names)
//   registration  per client address (Quota)
//   refresh       per client address (Quota)
//   sign_in       OpenID Connect routes, per client address (Quota)
//   encryption    /encrypt and /decrypt, per user (Quota)
//
// The client address is the connection's peer, or — when that peer is a trusted proxy
// (--trusted-proxies) — the last address in X-Forwarded-For that is not one. Per-address keys
// take IPv6 addresses by their /64 (one host usually holds a whole /64).
//
// Password hashing (argon2id: tens of ms and 19 MiB each) runs on a pool of its own
// (PasswordWork), so a flood of logins takes those threads and no more: sends, reads and
// receipts keep the blocking pool.
//
// Threads: admit() and record_outcome() on a shard (they offload to the blocking pool);
// client_address() and parse_trusted_proxies() anywhere.

#include <array>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "net/http_types.hpp"
#include "ratelimit/rate_limiter.hpp"

namespace parley {
struct Caller;
}

namespace parley::api {

struct ApiContext;

enum class Throttle : std::uint8_t {
  none,
  login,
  passcode,
  second_factor,
  registration,
  refresh,
  sign_in,
  encryption
};

// Networks whose X-Forwarded-For is believed (CIDR blocks; a bare address is a /32 or /128).
struct TrustedProxies {
  struct Network {
    std::array<std::uint8_t, 16> bytes{};  // IPv4 as IPv4-mapped IPv6
    int prefix = 0;                        // of the 128 bits
  };
  std::vector<Network> networks;
  bool contains(std::string_view address) const;
};
// Errc::bad_request naming the entry that is not an address or CIDR block.
Result<TrustedProxies> parse_trusted_proxies(const std::vector<std::string>& entries);

// The address a request comes from: the peer ("ADDR:PORT" as net reports it: the text after
// the last colon is the port), or, when the peer is a trusted proxy, the rightmost X-Forwarded-For entry that is not
// one (a client can prepend anything; only what trusted proxies appended is believed).
std::string client_address(const TrustedProxies& trusted, std::string_view peer,
                           std::string_view forwarded_for);

struct ThrottleOptions {
  ratelimit::Backoff login_per_address{10, std::chrono::minutes(15), std::chrono::seconds(1),
                                       std::chrono::minutes(15)};
  ratelimit::Backoff login_per_account_address{5, std::chrono::minutes(15),
                                               std::chrono::seconds(2), std::chrono::hours(1)};
  ratelimit::Backoff login_per_account{100, std::chrono::hours(1), std::chrono::seconds(1),
                                       std::chrono::hours(1)};
  ratelimit::Backoff passcode_per_user_group{5, std::chrono::minutes(15), std::chrono::seconds(2),
                                             std::chrono::hours(1)};
  ratelimit::Backoff second_factor_per_user{5, std::chrono::minutes(15), std::chrono::seconds(2),
                                            std::chrono::hours(1)};
  ratelimit::Quota registration_per_address{30, std::chrono::hours(1)};
  ratelimit::Quota refresh_per_address{60, std::chrono::minutes(1)};
  ratelimit::Quota sign_in_per_address{30, std::chrono::minutes(1)};
  ratelimit::Quota encryption_per_user{600, std::chrono::minutes(1)};
  TrustedProxies trusted_proxies;
};

// A request refused by a limit: 429 rate_limited, and when to come back.
struct Refusal {
  Error error;
  std::chrono::seconds retry_after{1};
};

// The 429 a refusal answers over HTTP, with its Retry-After.
net::HttpResponse refusal_response(const Refusal& refused);

// Before an operation with a Throttle runs: the refusal to answer, or nullopt to go on.
// `args` are the operation's fields (login's username); `caller` is set for per-user limits.
boost::asio::awaitable<std::optional<Refusal>> admit(ApiContext& ctx, Throttle throttle,
                                                     const boost::json::object& args,
                                                     const std::string& client,
                                                     const Caller* caller);
// After it ran: a login (or passcode join) whose attempt was not a failure of its credentials is
// refunded, and a success clears its (account, address) key. Other throttles count in admit().
boost::asio::awaitable<void> record_outcome(ApiContext& ctx, Throttle throttle,
                                            const boost::json::object& args,
                                            const std::string& client, const Caller* caller,
                                            const Status& outcome);

// Password hashing's own pool, at most `max_waiting` jobs queued beyond its threads.
class PasswordWork {
 public:
  PasswordWork(unsigned threads, std::size_t max_waiting)
      : pool_(threads), threads_(threads), max_waiting_(max_waiting) {}
  ~PasswordWork() { pool_.join(); }
  // Takes a place in the queue; false when it is full (answer 503 unavailable, Retry-After).
  bool enter() {
    if (queued_.fetch_add(1) >= threads_ + max_waiting_) {
      queued_.fetch_sub(1);
      return false;
    }
    return true;
  }
  void leave() { queued_.fetch_sub(1); }
  boost::asio::thread_pool& pool() { return pool_; }
  void join() { pool_.join(); }

 private:
  boost::asio::thread_pool pool_;
  const std::size_t threads_;
  const std::size_t max_waiting_;
  std::atomic<std::size_t> queued_{0};
};

}  // namespace parley::api
