#pragma once
// The WebSocket JSON protocol at /ws (docs/protocol.md, "WebSocket"): one WsSession per
// connection. It authenticates (header, ?access_token= or a first `auth` frame), answers ops
// with replies {"re":…}, and receives server events {"ev":…} through the Hub.
// Threads: everything on the connection's shard.

#include "api/request_context.hpp"
#include "net/http_server.hpp"

namespace parley::api {

// The /ws upgrade handler: checks Origin and any token given with the upgrade, then hands the
// connection to a new WsSession.
net::WsUpgrade accept_websocket(ApiContext& ctx, const net::HttpRequest& request);

}  // namespace parley::api
