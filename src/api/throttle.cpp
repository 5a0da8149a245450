#include "api/throttle.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <boost/json.hpp>

#include "api/request_context.hpp"
#include "net/offload.hpp"

namespace parley::api {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono;

namespace {

// An address as 16 bytes (IPv4 mapped into IPv6), or nullopt.
std::optional<std::array<std::uint8_t, 16>> address_bytes(std::string_view text) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  if (address.is_v4()) {
    return asio::ip::make_address_v6(asio::ip::v4_mapped, address.to_v4()).to_bytes();
  }
  return address.to_v6().to_bytes();
}

bool prefix_matches(const std::array<std::uint8_t, 16>& a, const std::array<std::uint8_t, 16>& b,
                    int prefix) {
  for (int bit = 0; bit < prefix; bit += 8) {
    const int bits = std::min(8, prefix - bit);
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - bits));
    if ((a[bit / 8] & mask) != (b[bit / 8] & mask)) return false;
  }
  return true;
}

// "1.2.3.4:5678" → "1.2.3.4"; "::1:5678" (as net writes IPv6 peers) → "::1"; "[::1]:5678" →
// "::1". The peer always ends in its port.
std::string_view without_port(std::string_view peer) {
  const auto colon = peer.rfind(':');
  if (colon == std::string_view::npos) return peer;
  auto host = peer.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Refusal refusal(milliseconds retry_after, std::string_view what) {
  const auto seconds = std::max<std::int64_t>(1, (retry_after.count() + 999) / 1000);
  return Refusal{make_error(Errc::rate_limited, std::string(what) + "; retry in " +
                                                    std::to_string(seconds) + " s"),
                 std::chrono::seconds(seconds)};
}

// The login's account as a key: what the client typed, bounded (an unknown username backs off
// like a known one, so the limits say nothing about which accounts exist).
std::string account_of(const json::object& args) {
  const auto* username = args.if_contains("username");
  if (!username || !username->is_string()) return {};
  const auto& name = username->get_string();
  return std::string(name.data(), std::min<std::size_t>(name.size(), 128));
}

// A client address as a rate-limit key: IPv4 as it is, IPv6 by its /64.
std::string address_key(const std::string& client) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(client, ec);
  if (ec || !address.is_v6() || address.to_v6().is_v4_mapped()) return client;
  return asio::ip::make_network_v6(address.to_v6(), 64).canonical().to_string();
}

}  // namespace

bool TrustedProxies::contains(std::string_view address) const {
  const auto bytes = address_bytes(address);
  if (!bytes) return false;
  for (const auto& network : networks) {
    if (prefix_matches(*bytes, network.bytes, network.prefix)) return true;
  }
  return false;
}

Result<TrustedProxies> parse_trusted_proxies(const std::vector<std::string>& entries) {
  TrustedProxies out;
  for (const auto& raw : entries) {
    const auto entry = trim(raw);
    if (entry.empty()) continue;
    const auto slash = entry.find('/');
    const auto bytes = address_bytes(entry.substr(0, slash));
    const auto bad = make_error(Errc::bad_request, "--trusted-proxies: '" + std::string(entry) +
                                                       "' is not an address or CIDR block");
    if (!bytes) return bad;
    const bool v4 = entry.substr(0, slash).find(':') == std::string_view::npos;
    int prefix = v4 ? 32 : 128;
    if (slash != std::string_view::npos) {
      const auto digits = entry.substr(slash + 1);
      prefix = -1;
      if (!digits.empty() && digits.size() <= 3 &&
          digits.find_first_not_of("0123456789") == std::string_view::npos) {
        prefix = std::stoi(std::string(digits));
      }
      if (prefix < 0 || prefix > (v4 ? 32 : 128)) return bad;
    }
    out.networks.push_back({*bytes, v4 ? prefix + 96 : prefix});
  }
  return out;
}

std::string client_address(const TrustedProxies& trusted, std::string_view peer,
                           std::string_view forwarded_for) {
  std::string_view client = without_port(peer);
  if (forwarded_for.empty() || !trusted.contains(client)) return std::string(client);
  // Right to left: each trusted hop vouches for the one before it.
  while (!forwarded_for.empty()) {
    const auto comma = forwarded_for.rfind(',');
    const auto hop = trim(comma == std::string_view::npos ? forwarded_for
                                                          : forwarded_for.substr(comma + 1));
    forwarded_for = comma == std::string_view::npos ? std::string_view()
                                                    : forwarded_for.substr(0, comma);
    if (!address_bytes(hop)) break;  // garbage: believe the last good hop, no further
    client = hop;
    if (!trusted.contains(hop)) break;
  }
  return std::string(client);
}

namespace {

// The keys an attempt counts against, with their rules: login — the address, the account and
// address, the account; a passcode join — the user and group.
struct BackoffKey {
  std::string key;
  const ratelimit::Backoff* rule;
  bool cleared_by_success;
};
std::vector<BackoffKey> backoff_keys(ApiContext& ctx, Throttle throttle,
                                     const json::object& args, const std::string& client,
                                     const Caller* caller) {
  const ThrottleOptions& o = ctx.options.throttle;
  if (throttle == Throttle::login) {
    const auto account = account_of(args);
    const auto address = address_key(client);
    return {{"login:addr:" + address, &o.login_per_address, false},
            {"login:pair:" + address + " " + account, &o.login_per_account_address, true},
            {"login:acct:" + account, &o.login_per_account, false}};
  }
  if (throttle == Throttle::second_factor) {
    // Per user: the caller, or the one a genuine login challenge names (a forged challenge
    // counts against nobody, and is refused anyway).
    std::optional<chat::UserId> user;
    if (caller) {
      user = caller->user_id;
    } else if (const auto* challenge = args.if_contains("challenge");
               challenge && challenge->is_string()) {
      user = ctx.service.challenge_user(challenge->get_string());
    }
    if (!user) return {};
    return {{"mfa:" + std::to_string(*user), &o.second_factor_per_user, true}};
  }
  if (throttle == Throttle::passcode) {
    const auto* conv = args.if_contains("conv");
    const std::string group = conv && conv->is_string() ? std::string(conv->get_string()) : "";
    return {{"join:" + std::to_string(caller ? caller->user_id : 0) + " " + group.substr(0, 64),
             &o.passcode_per_user_group, true}};
  }
  return {};
}

// Whether the operation's error is a failure of the secret it guessed.
bool failed_guess(Throttle throttle, const Status& outcome) {
  if (outcome) return false;
  return outcome.error().code ==
         (throttle == Throttle::passcode ? Errc::forbidden : Errc::unauthenticated);
}

// Runs f on the blocking pool when the limiter may block, else here.
template <class F>
asio::awaitable<std::invoke_result_t<F&>> on_limiter(ApiContext& ctx, F f) {
  if (!ctx.limiter->blocks()) co_return f();
  co_return co_await net::offload(ctx.blocking, std::move(f));
}

}  // namespace

net::HttpResponse refusal_response(const Refusal& refused) {
  auto response = error_response(refused.error);
  response.headers.emplace_back("Retry-After", std::to_string(refused.retry_after.count()));
  return response;
}

asio::awaitable<std::optional<Refusal>> admit(ApiContext& ctx, Throttle throttle,
                                              const json::object& args, const std::string& client,
                                              const Caller* caller) {
  if (throttle == Throttle::none || !ctx.limiter) co_return std::nullopt;
  const auto& o = ctx.options.throttle;
  ratelimit::RateLimiter& limiter = *ctx.limiter;
  auto check = [&]() -> std::optional<Refusal> {
    auto quota = [&](std::string key, const ratelimit::Quota& q,
                     std::string_view what) -> std::optional<Refusal> {
      auto d = limiter.take(key, q);
      if (d && !d->allowed) return refusal(d->retry_after, what);
      return std::nullopt;
    };
    switch (throttle) {
      case Throttle::none: return std::nullopt;
      case Throttle::login:
      case Throttle::passcode:
      case Throttle::second_factor: {
        // Each key checked and counted at once; a refusal takes back what it counted already.
        const auto keys = backoff_keys(ctx, throttle, args, client, caller);
        for (std::size_t i = 0; i < keys.size(); ++i) {
          auto d = limiter.attempt(keys[i].key, *keys[i].rule);
          if (d && !d->allowed) {
            for (std::size_t j = 0; j < i; ++j) (void)limiter.refund(keys[j].key);
            return refusal(d->retry_after,
                           throttle == Throttle::login      ? "too many failed logins"
                           : throttle == Throttle::passcode ? "too many wrong passcodes for this group"
                                                            : "too many wrong codes");
          }
        }
        return std::nullopt;
      }
      case Throttle::registration:
        return quota("register:addr:" + address_key(client), o.registration_per_address,
                     "too many registrations from this address");
      case Throttle::refresh:
        return quota("refresh:addr:" + address_key(client), o.refresh_per_address,
                     "too many token refreshes from this address");
      case Throttle::sign_in:
        return quota("signin:addr:" + address_key(client), o.sign_in_per_address,
                     "too many sign-in attempts from this address");
      case Throttle::encryption:
        return quota("crypto:user:" + std::to_string(caller ? caller->user_id : 0),
                     o.encryption_per_user, "too many encryption requests");
    }
    return std::nullopt;
  };
  co_return co_await on_limiter(ctx, check);
}

asio::awaitable<void> record_outcome(ApiContext& ctx, Throttle throttle, const json::object& args,
                                     const std::string& client, const Caller* caller,
                                     const Status& outcome) {
  if ((throttle != Throttle::login && throttle != Throttle::passcode &&
       throttle != Throttle::second_factor) ||
      !ctx.limiter) {
    co_return;
  }
  if (failed_guess(throttle, outcome)) co_return;  // counted when it started
  auto keys = backoff_keys(ctx, throttle, args, client, caller);
  auto settle = [&ctx, keys = std::move(keys), success = outcome.ok()] {
    for (const auto& k : keys) {
      (void)(success && k.cleared_by_success ? ctx.limiter->clear(k.key)
                                             : ctx.limiter->refund(k.key));
    }
    return true;
  };
  (void)co_await on_limiter(ctx, settle);
}

}  // namespace parley::api
