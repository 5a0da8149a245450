#pragma once
// Registers the file routes (api/files/file_routes.cpp; docs/protocol.md, "Files"): nothing
// when the node has no file service (ApiContext::files).

#include "api/request_context.hpp"
#include "net/router.hpp"

namespace parley::api {

void add_file_routes(net::Router& router, ApiContext& ctx);

}  // namespace parley::api
