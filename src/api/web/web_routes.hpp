#pragma once
// The browser client's pages: GET / (index.html), /assets/NAME (Vite's hashed files) and the
// few files beside index.html (favicon.svg), from the copy embedded in the binary
// (api/web/embedded_assets.hpp) or, with --web-dir DIR, from a directory read at each request
// (for working on the client: `npm run build -- --watch`, or Vite's dev server in front).
//
// Caching: hashed assets are immutable for a year; index.html and the rest are `no-cache`
// (revalidated by ETag), so a new build is picked up at the next load. HTML comes with a strict
// Content-Security-Policy (scripts and styles from the origin only, no inline code, no
// framing): docs/security.md, "The web client".
// Threads: add_web_routes() at start-up; the handlers run on any shard and share only
// immutable data.
#include <string>

namespace parley::net {
class Router;
}

namespace parley::api {

struct WebOptions {
  std::string dir;  // --web-dir: serve this directory instead of the embedded client
};

void add_web_routes(net::Router& router, const WebOptions& options);

// The Content-Security-Policy of the client's HTML.
extern const char* const kWebContentSecurityPolicy;

}  // namespace parley::api
