#pragma once
// The WebSocket JSON protocol at /ws (docs/protocol.md, "WebSocket"): the codec between
// WebSocket text frames and a ClientSession. Requests {"op":NAME,"id":REQ,…} become
// ClientSession::request calls; answers are replies {"re":REQ,"ok":…}; events are the Hub's JSON
// frames as they are. The token comes with the upgrade (header or ?access_token=) or in a first
// `auth` request.
// Threads: everything on the connection's shard.

#include "api/request_context.hpp"
#include "net/router.hpp"

namespace parley::api {

// Registers GET /ws: checks Origin and any token given with the upgrade, then hands the
// connection to a new session.
void add_websocket_route(net::Router& router, ApiContext& ctx);

}  // namespace parley::api
