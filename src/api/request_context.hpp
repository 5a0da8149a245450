#pragma once
// What every REST route and WebSocket session of a node shares: the service, the blocking pool,
// the fan-out hub and the api options. Owned by app::Node; outlives every connection.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/throttle.hpp"
#include "core/result.hpp"
#include "core/url.hpp"
#include "net/http_types.hpp"
#include "service/chat_service.hpp"

namespace parley::api {

class Hub;
}  // namespace parley::api
namespace parley {
class FileService;
class KeyDirectory;
class OidcSignIn;
class PushSubscriptions;
}
namespace parley::api {

struct ApiOptions {
  // Browser origins allowed to open /ws, besides the server's own (same host). "*" allows all.
  std::vector<std::string> allowed_origins;
  std::chrono::seconds auth_timeout{10};  // a WebSocket must authenticate within this
  std::size_t max_inflight_sends = 1024;  // unacknowledged sends per WebSocket
  std::chrono::milliseconds typing_interval{1000};  // at most one typing event per conv per session
  // A user whose last session closed is announced offline only if still gone after this.
  std::chrono::milliseconds presence_grace{3000};
  std::chrono::seconds last_seen_flush{10};  // how often batched last-seen times are written
  // How often this node tells the cluster its users are still online (Presence::heartbeat).
  std::chrono::milliseconds presence_heartbeat{10000};
  // Event streams (api/event_stream.hpp).
  std::chrono::milliseconds sse_heartbeat{15000};  // a comment line this often
  std::chrono::seconds poll_timeout{25};           // a poll's hold without ?timeout=
  std::chrono::seconds poll_max_timeout{60};
  std::size_t poll_max_bytes = 256 * 1024;         // events in one poll answer
  std::size_t stream_replay_max_messages = 1000;   // further behind: resync
  // Socket.IO (api/socketio/): Engine.IO's heartbeat and largest message, and how long a new
  // connection has to CONNECT to a namespace.
  std::chrono::milliseconds eio_ping_interval{25000};
  std::chrono::milliseconds eio_ping_timeout{20000};
  std::size_t eio_max_payload = 1000000;
  std::chrono::milliseconds sio_connect_timeout{45000};
  // The servers of the official Engine.IO and Socket.IO test suites instead of chat over
  // Socket.IO (--protocol-test; loopback only).
  bool protocol_test = false;
  // What one client may have waiting to be written (--max-outbound-bytes): a long-polling
  // session's packets, as a WebSocket's write queue.
  std::size_t max_outbound_bytes = 1024 * 1024;
  // Rate limits and the client address behind trusted proxies (api/throttle.hpp).
  ThrottleOptions throttle;
  // A live session whose access token expired has this long to send a new one (`auth`) before
  // it is closed (api/client_session.hpp).
  std::chrono::milliseconds reauth_grace{30000};
  // POST /api/auth/login's server-to-server secret (--backend-login-secret); "": none.
  std::string backend_login_secret;
  // Cookies of the OpenID sign-in are Secure (the node is reached over https).
  bool secure_cookies = false;
  // Test-only fault hook (environment PARLEY_FAULT_THROW_ON_PATH, docs/operations.md): a REST
  // request for exactly this path throws inside its handler, as a bug would.
  std::string fault_throw_on_path;
};

struct ApiContext {
  ChatService& service;
  boost::asio::thread_pool& blocking;
  Hub& hub;
  ApiOptions options;
  // Presence announcements run here, one at a time in the order they were posted, so a user's
  // "offline" and "online" can never overtake each other.
  boost::asio::strand<boost::asio::thread_pool::executor_type> presence{
      boost::asio::make_strand(blocking.get_executor())};
  // The Prometheus text of GET /metrics, assembled by the composition root (which alone knows
  // every component's counters).
  std::function<std::string()> metrics;
  // Run by the composition root when the node starts draining, after the server stopped
  // accepting: modules end what the server does not see as an open connection (Socket.IO
  // long-polling sessions between polls). From the main thread; each hook posts to shards.
  std::vector<std::function<void()>> on_drain;
  // File sharing (service/file_service.hpp): uploads, downloads, a send's attachments.
  FileService* files = nullptr;
  // The end-to-end encryption key directory (service/key_directory.hpp).
  KeyDirectory* keys = nullptr;
  // Push subscriptions and mute (service/push_subscriptions.hpp).
  PushSubscriptions* push = nullptr;
  // Periodic work the composition root adds (the data keys' refresh and rewrap): housekeeping
  // runs each on the blocking pool every `period`, one run at a time, until the shards stop.
  struct Chore {
    std::string name;  // for the log when it throws
    std::chrono::milliseconds period;
    std::function<void()> run;
  };
  std::vector<Chore> chores = {};
  // The counters of rate limits (api/throttle.hpp); null: no limits.
  ratelimit::RateLimiter* limiter = nullptr;
  // Where password hashing runs (logins, registrations); null: on the blocking pool.
  PasswordWork* passwords = nullptr;
  // OpenID Connect sign-in and the backend login (service/oidc_sign_in.hpp); always set by the
  // node (with no providers configured it lists none).
  OidcSignIn* sign_in = nullptr;
};

// Validates, authorizes and resolves a send: from memory on the calling shard when it can
// (ChatService::try_prepare_send), else on the blocking pool. Shared by REST and WebSocket.
boost::asio::awaitable<Result<chat::NewMessage>> prepare_send(ApiContext& ctx, const Caller& caller,
                                                              SendRequest request,
                                                              bool group_only = false);

// The HTTP status of an error code (docs/protocol.md, "Errors").
int http_status(Errc code);
// A JSON response: the status and the serialized body.
net::HttpResponse json_response(int status, const boost::json::value& body);
// The response for an error: its status, the JSON error body, WWW-Authenticate on a 401 and
// Retry-After: 1 on a 503.
net::HttpResponse error_response(const Error& e);
// The token of "Authorization: Bearer <token>", if that is what the header holds.
std::optional<std::string_view> bearer_token(std::string_view authorization);
// Same-origin (Origin's host equals Host), listed, or no Origin at all (not a browser).
bool origin_allowed(const ApiOptions& options, std::string_view origin, std::string_view host);
// The value of one query parameter, percent-decoded (core/url.hpp).
using ::parley::query_param;

}  // namespace parley::api
