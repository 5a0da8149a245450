#pragma once
// Router: which handler answers a request, chosen from its method and path before the body is
// read, so that each route sets its own limits. Modules register their routes at start-up
// (api::add_rest_routes, api::add_event_stream_routes), and the server never names one.
//
//   router.add("GET", "/conversations/{}/messages", handler);
//   router.add("POST", "/files", upload, {.max_body_bytes = 100 << 20, .stream_body = true});
//   router.websocket("/ws", accept);
//   router.stream("/events", open_sse);  // a response written many times (net/http_stream.hpp)
//
// A pattern's "{}" matches one non-empty path segment and captures it (HttpRequest::params, in
// order). Routes are tried in the order they were added.
// Threads: add() before the server starts; match() from any shard (read-only by then).

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_types.hpp"

namespace parley::net {

class WsListener;
class HttpStreamListener;

using HttpHandler = std::function<boost::asio::awaitable<HttpResponse>(HttpRequest&)>;

struct WsUpgrade {
  std::optional<HttpResponse> reject;    // set: answer this instead of upgrading
  std::shared_ptr<WsListener> listener;  // otherwise: the listener for the new connection
  // The largest message the connection reads; 0 for the server's (--max-payload-bytes).
  std::size_t max_message_bytes = 0;
};
using WsUpgradeHandler = std::function<WsUpgrade(const HttpRequest&)>;

// A streamed response: either refused with a whole response, or begun with `status`,
// `content_type` and `headers`, and then written by `listener`'s HttpStream.
struct StreamStart {
  std::optional<HttpResponse> reject;
  std::shared_ptr<HttpStreamListener> listener;
  int status = 200;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;
};
using StreamHandler = std::function<StreamStart(const HttpRequest&)>;

struct RouteOptions {
  // The largest request body this route reads; 0 for the server's (--max-payload-bytes). A
  // declared Content-Length past it gets 413 before the handler runs.
  std::size_t max_body_bytes = 0;
  // The handler reads the body itself, as it arrives, through HttpRequest::body_stream
  // (net/request_body.hpp), instead of receiving it whole in HttpRequest::body.
  bool stream_body = false;
};

class Router {
 public:
  void add(std::string method, std::string pattern, HttpHandler handler, RouteOptions options = {});
  // A WebSocket endpoint: a GET with an RFC 6455 upgrade.
  void websocket(std::string pattern, WsUpgradeHandler handler);
  // A GET whose response is streamed.
  void stream(std::string pattern, StreamHandler handler, RouteOptions options = {});

  struct Route {
    std::string method;  // empty for a WebSocket endpoint
    std::vector<std::string> segments;
    HttpHandler handler;
    WsUpgradeHandler upgrade;
    StreamHandler stream;
    RouteOptions options;
  };
  struct Match {
    const Route* route = nullptr;  // null: no route for this method and path
    std::vector<std::string> params;
    // No route: the methods the path has ("GET, POST"), for a 405 and its Allow header; empty
    // for a 404.
    std::string allowed;
  };
  // `websocket`: the request asks for an upgrade (then only WebSocket endpoints match).
  Match match(std::string_view method, std::string_view path, bool websocket) const;

 private:
  std::vector<Route> routes_;
};

// Splits "/a/b/" into {"a", "b", ""}.
std::vector<std::string_view> split_path(std::string_view path);

}  // namespace parley::net
