#pragma once
// The REST API (docs/protocol.md, "REST"): routes each request to a ChatService method and
// renders the result as JSON. Runs on the connection's shard; blocking service calls are
// offloaded to the blocking pool.

#include <boost/asio/awaitable.hpp>

#include "api/request_context.hpp"
#include "net/http_types.hpp"

namespace parley::api {

boost::asio::awaitable<net::HttpResponse> handle_rest(ApiContext& ctx, net::HttpRequest& request);

}  // namespace parley::api
