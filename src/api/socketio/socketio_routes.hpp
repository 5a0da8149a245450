#pragma once
// Socket.IO v4 at /socket.io/ (docs/protocol.md, "Socket.IO"): Engine.IO v4 over WebSocket
// (`?EIO=4&transport=websocket`) carrying Socket.IO v5 packets, a codec over ClientSession
// like /ws. A CONNECT to the main namespace with {token} authenticates (the same access tokens
// as /ws) and is answered once the user's events reach this node; every op of the WebSocket
// protocol is an event of the same name, whose ack carries the /ws reply without "re"; every
// server event is emitted under its name with the /ws event's JSON as its one argument.
//
// A BINARY_EVENT's attachments arrive as binary frames and the event runs once the last is in.
// Not yet (issue 20's next parts): the long-polling transport and the upgrade from it, binary
// data in what the server sends, namespaces besides "/", the protocol-test mode.
// Threads: everything on the connection's shard.

#include "api/request_context.hpp"
#include "net/router.hpp"

namespace parley::api {

void add_socketio_routes(net::Router& router, ApiContext& ctx);

}  // namespace parley::api
