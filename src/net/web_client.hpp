#pragma once
// fetch(): one blocking HTTP/1.1 request to an https:// URL, for calls Parley makes to services
// on the internet (an OpenID provider's discovery document, its keys, its token endpoint; push
// services and gateways, over kept-alive connections).
// Everything such a call needs to be safe by default:
//   - TLS 1.2+ with the server's certificate verified against the system's CAs (or the file
//     FetchOptions::ca_file names) and its host name checked; SNI sent;
//   - one deadline for the whole exchange (connect, handshake, request, response);
//   - a cap on the response body (a larger one is an error, not a truncation);
//   - no redirects followed.
// Plain http:// is refused unless the host is loopback (127.0.0.0/8, ::1, localhost): a
// development provider on this machine.
// (net/http_client.hpp is the other client: kept-alive connections to one plain-HTTP server, S3.)
//
// Threads: any; blocking (the blocking pool). A call runs its connection's own io_context; kept
// connections wait in a process-wide pool (bounded: 16 per origin, 256 in all, 30 s idle).

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "net/http_client.hpp"

namespace parley::net {

struct FetchOptions {
  std::chrono::milliseconds timeout{10'000};
  std::size_t max_body = 1 << 20;
  std::string ca_file;  // PEM CA certificates to trust instead of the system's
  // Reuse an idle connection to the same origin and keep this one open for the next call
  // (HTTP/1.1 keep-alive): for a caller that calls one service often, the push senders. A kept
  // connection the server has closed meanwhile is noticed before use, or its failure before any
  // answer is retried once on a new connection: the request may then reach the server twice
  // (push requests carry an idempotency key). Off: a new connection, closed after the call.
  bool keep_alive = false;
};

// Errc::bad_request for a URL that is not http(s)://HOST[:PORT]/… or not allowed; Errc::unavailable
// when the server cannot be reached, fails verification, times out or answers too much.
Result<ClientResponse> fetch(std::string_view method, std::string_view url,
                             const std::vector<std::pair<std::string, std::string>>& headers,
                             std::string_view body, const FetchOptions& options);

// The parts of an http(s) URL fetch() accepts.
struct WebUrl {
  bool tls = true;
  std::string host;  // without IPv6 brackets
  std::string port;
  std::string target;  // path and query, at least "/"
};
Result<WebUrl> parse_web_url(std::string_view url);
// localhost, ::1 or an address in 127.0.0.0/8: where plain http:// is allowed.
bool is_loopback(std::string_view host);

}  // namespace parley::net
