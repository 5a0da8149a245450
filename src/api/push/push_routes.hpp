#pragma once
// The push-notification routes (docs/protocol.md, "Push notifications"). So far the VAPID public
// key that browsers subscribe with: GET /push/vapid-public-key → {"public_key": base64url of the
// uncompressed P-256 point}, or 404 when the node has no key (Web Push off: a cluster without
// --vapid-key-file). Subscriptions and the sender come next (issue 25).
// Threads: add_push_routes() at start-up; the handler runs on any shard.
#include <string>

namespace parley::net {
class Router;
}

namespace parley::api {

// `vapid_public_key_b64` empty: Web Push is off.
void add_push_routes(net::Router& router, std::string vapid_public_key_b64);

}  // namespace parley::api
