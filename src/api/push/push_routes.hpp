#pragma once
// The push-notification routes (docs/protocol.md, "Push notifications"):
//   GET    /push/vapid-public-key              {"public_key": base64url P-256 point}; 404 when
//                                              Web Push is off (a cluster without --vapid-key-file)
//   POST   /push/subscriptions                 this login session's subscription (201)
//   GET    /push/subscriptions                 the caller's, without their secrets
//   DELETE /push/subscriptions/{id}
//   PUT    /conversations/{id}/notifications   {"muted_until": time | null}
//   GET    /conversations/{id}/notifications
// Threads: add_push_routes() at start-up; handlers run on any shard.
#include <string>

namespace parley::net {
class Router;
}

namespace parley::api {

struct ApiContext;

// `vapid_public_key_b64` empty: Web Push is off. The subscription routes need ctx.push.
void add_push_routes(net::Router& router, ApiContext& ctx, std::string vapid_public_key_b64);

}  // namespace parley::api
