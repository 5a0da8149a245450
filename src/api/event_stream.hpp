#pragma once
// Server-sent events (GET /events) and long-poll (GET /poll): two transports that only carry
// events to the client, which sends through the REST routes (docs/protocol.md, "Server-sent
// events" and "Long-poll").
//
// Both are ClientSessions (api/client_session.hpp) over one resumable event stream,
// EventStreamSession: it joins the fan-out first, then replays from the client's cursor what the
// store holds beyond it (api/stream_cursor.hpp), buffering live events meanwhile, then goes live,
// dropping what the replay already carried and catching up again on a gap. Message and
// message_updated events carry the cursor after them; other events (receipts, presence, typing,
// membership) carry none and are not replayed. A cursor that is unknown, another user's, or
// further behind than ApiOptions::stream_replay_max_messages gets one `resync` event instead.
//
// SSE writes through an HttpStream (net/http_stream.hpp), under its bounded queue: a stalled
// reader is cut off and resumes from its last id. A poll lives for one request: it answers as
// soon as it has events (or at its timeout) with at most poll_max_bytes of them; a second poll
// of the same login session answers the first at once. A node that starts draining answers every held poll at
// once (ApiContext::on_drain).
//
// Threads: each session on the shard of its connection.

#include "net/router.hpp"

namespace parley::api {

struct ApiContext;

void add_event_stream_routes(net::Router& router, ApiContext& ctx);

}  // namespace parley::api
