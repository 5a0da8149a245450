#pragma once
// Registers the sign-in routes that are not JSON operations (api/auth/sign_in_routes.cpp;
// docs/protocol.md §2, "Sign in with an OpenID provider", "Backend login"):
//   GET  /auth/providers                  the configured OpenID providers, for a login page
//   GET  /auth/oidc/{provider}/start      302 to the provider, with the flow's state cookie
//   GET  /auth/oidc/{provider}/callback   the provider's answer: tokens (JSON, or to redirect_uri)
//   POST /api/auth/login                  the reference design's backend login

#include "api/request_context.hpp"
#include "net/router.hpp"

namespace parley::api {

void add_sign_in_routes(net::Router& router, ApiContext& ctx);

}  // namespace parley::api
