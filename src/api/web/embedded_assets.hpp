#pragma once
// The browser client (web/), built by Vite and compiled into the binary: scripts/build-web
// writes its files as C++ (embedded_assets.inc), which embedded_assets.cpp includes. Empty in a
// build configured without the web client (-DPARLEY_WEB=OFF).
// Threads: immutable data, read from any thread.
#include <span>
#include <string_view>

namespace parley::api::web {

struct EmbeddedAsset {
  std::string_view path;          // as served: "/index.html", "/assets/index-ZeBWC5Wc.js"
  std::string_view content_type;
  std::string_view body;
  std::string_view gzip;          // the body gzip-compressed; empty when that saves little
  std::string_view etag;          // quoted, for ETag and If-None-Match
};

std::span<const EmbeddedAsset> embedded_assets();

}  // namespace parley::api::web
