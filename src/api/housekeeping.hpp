#pragma once
// Periodic node chores, timed on shard 0: writing the batched last-seen times to the store every
// ApiOptions::last_seen_flush, and the presence heartbeat (ChatService::presence_heartbeat) every
// ApiOptions::presence_heartbeat, the sweep of uploads never attached, and the chores the
// composition root added (ApiContext::chores). Stops when the shards stop; app::run_node flushes
// once more then.
#include "api/request_context.hpp"
#include "net/shards.hpp"

namespace parley::api {
void start_housekeeping(ApiContext& ctx, net::ShardPool& shards);
}  // namespace parley::api
