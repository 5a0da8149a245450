#pragma once
// Socket.IO v4 at /socket.io/ (docs/protocol.md, "Socket.IO"): Engine.IO v4 on HTTP
// long-polling and WebSocket, and the upgrade between them (eio_session.hpp), carrying Socket.IO
// v5 packets (sio_connection.hpp). Chat is the main namespace, a codec over ClientSession like
// /ws: a CONNECT with {token} authenticates (the same access tokens as /ws) and is answered once
// the user's events reach this node; every op of the WebSocket protocol is an event of the same
// name, whose ack carries the /ws reply without "re"; every server event is emitted under its
// name with the /ws event's JSON as its one argument.
//
// With ApiOptions::protocol_test, the official test suites' servers instead: an
// Engine.IO echo at /engine.io/, and namespaces / and /custom at /socket.io/.
// Threads: routes are registered at start-up; sessions run on their home shards.

#include "api/request_context.hpp"
#include "net/router.hpp"

namespace parley::api {

void add_socketio_routes(net::Router& router, ApiContext& ctx);

}  // namespace parley::api
