#pragma once
// The HTTP request and response as the api layer sees them: plain values, no Beast types.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace parley::net {

class RequestBody;
class ResponseBody;
class Mailbox;

struct HttpRequest {
  std::string method;  // "GET", "POST", …
  std::string path;    // without the query string
  std::vector<std::string> params;  // what the route's "{}" segments captured (net/router.hpp)
  std::string query;   // raw, without '?'
  std::string body;  // the whole body; empty on a route that streams it (then body_stream)
  RequestBody* body_stream = nullptr;  // RouteOptions::stream_body routes only (net/request_body.hpp)
  std::string authorization;
  std::string origin;
  std::string host;
  std::string content_type;
  std::string user_agent;
  std::string cookie;         // Cookie (the OpenID sign-in's state)
  std::string last_event_id;  // SSE's reconnect header
  std::string range;          // Range (downloads)
  std::string if_none_match;  // If-None-Match (downloads, the web client)
  std::string accept_encoding;  // Accept-Encoding (the web client's gzip forms)
  std::string remote;  // peer address
  std::string forwarded_for;  // X-Forwarded-For, believed only from trusted proxies (api/throttle.hpp)
  std::uint64_t conn_id = 0;
  std::size_t shard = 0;
  // The shard's queue for work other threads hand to it in order (net/shards.hpp), for a handler
  // that leaves something behind on this shard (a Socket.IO session).
  Mailbox* mailbox = nullptr;
};

struct HttpResponse {
  int status = 200;
  std::string body;
  // A body written as it is read instead (net/response_body.hpp): a download. `body` stays empty.
  std::shared_ptr<ResponseBody> body_stream;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

// Counters of the network layer, for /metrics. Updated from every shard; read from any thread.
struct ConnectionStats {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> http_requests[6]{};  // by status class: [1] = 1xx … [5] = 5xx
  std::atomic<std::uint64_t> websockets_opened{0};
  std::atomic<std::uint64_t> slow_consumer_closes{0};
};

// Limits every connection gets at accept (STYLE.md, "Connections"). Safe defaults.
struct ConnectionLimits {
  std::size_t max_payload_bytes = 64 * 1024;     // HTTP body and WebSocket message
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_outbound_bytes = 1024 * 1024;  // WebSocket write queue
  std::chrono::seconds idle_timeout{60};         // HTTP keep-alive and WebSocket silence
};

}  // namespace parley::net
