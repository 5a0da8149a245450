#include "api/web/web_routes.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "api/request_context.hpp"
#include "api/web/embedded_assets.hpp"
#include "core/logging.hpp"
#include "net/router.hpp"

namespace parley::api {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using net::HttpRequest;
using net::HttpResponse;

// 'wasm-unsafe-eval': libsodium (end-to-end encryption) runs as WebAssembly. Inline scripts and
// styles are refused; styles set from script (element.style) are not inline styles.
const char* const kWebContentSecurityPolicy =
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
    "img-src 'self' blob: data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

namespace {

constexpr const char* kImmutable = "public, max-age=31536000, immutable";

using web::EmbeddedAsset;

// The client accepts gzip: "gzip" is listed without q=0. Good enough for what browsers send.
bool accepts_gzip(std::string_view accept_encoding) {
  const auto at = accept_encoding.find("gzip");
  if (at == std::string_view::npos) return false;
  auto rest = accept_encoding.substr(at + 4);
  rest = rest.substr(0, rest.find(','));
  return rest.find("q=0") == std::string_view::npos || rest.find("q=0.") != std::string_view::npos;
}

// A file's answer: 304 when the client holds this version, else the bytes (gzip when both
// sides can), with the headers of its kind.
// (A file of --web-dir comes as an EmbeddedAsset too, viewing the bytes just read, without gzip
// or ETag.)
HttpResponse answer(const HttpRequest& req, const EmbeddedAsset& a, std::string_view cache_control, bool html) {
  HttpResponse r;
  r.content_type = std::string(a.content_type);
  r.headers.emplace_back("Cache-Control", std::string(cache_control));
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  if (!a.etag.empty()) r.headers.emplace_back("ETag", std::string(a.etag));
  if (html) {
    r.headers.emplace_back("Content-Security-Policy", kWebContentSecurityPolicy);
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
    r.headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
  }
  if (!a.gzip.empty()) r.headers.emplace_back("Vary", "Accept-Encoding");
  if (!a.etag.empty() && req.if_none_match == a.etag) {
    r.status = 304;
    return r;
  }
  if (!a.gzip.empty() && accepts_gzip(req.accept_encoding)) {
    r.headers.emplace_back("Content-Encoding", "gzip");
    r.body = std::string(a.gzip);
  } else {
    r.body = std::string(a.body);
  }
  return r;
}

HttpResponse not_found() { return error_response(make_error(Errc::not_found, "no such file")); }

// What a build without the web client serves at /.
HttpResponse placeholder() {
  HttpResponse r;
  r.content_type = "text/html; charset=utf-8";
  r.headers.emplace_back("Content-Security-Policy", kWebContentSecurityPolicy);
  r.body =
      "<!doctype html><meta charset=utf-8><title>Parley</title>"
      "<h1>Parley</h1><p>This node is running, built without its web client. The API is "
      "described in docs/protocol.md: REST under <code>/auth</code>, <code>/chat</code>, "
      "<code>/groups</code>, <code>/conversations</code>; WebSocket at <code>/ws</code>.</p>";
  return r;
}

// The embedded files are static data: the routes look them up by path and copy nothing until
// a response is made.
void add_embedded(net::Router& router) {
  auto assets = std::make_shared<std::map<std::string_view, const EmbeddedAsset*, std::less<>>>();
  for (const auto& e : web::embedded_assets()) assets->emplace(e.path, &e);
  if (!assets->contains("/index.html")) {
    router.add("GET", "/", [](HttpRequest&) -> asio::awaitable<HttpResponse> { co_return placeholder(); });
    return;
  }
  router.add("GET", "/", [assets](HttpRequest& req) -> asio::awaitable<HttpResponse> {
    co_return answer(req, *assets->at("/index.html"), "no-cache", true);
  });
  router.add("GET", "/assets/{}", [assets](HttpRequest& req) -> asio::awaitable<HttpResponse> {
    const auto it = assets->find("/assets/" + req.params[0]);
    if (it == assets->end()) co_return not_found();
    co_return answer(req, *it->second, kImmutable, false);
  });
  // The files beside index.html (favicon.svg): a route each, so that other paths stay 404.
  for (const auto& [path, asset] : *assets) {
    if (path == "/index.html" || path.starts_with("/assets/")) continue;
    router.add("GET", std::string(path), [asset](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      co_return answer(req, *asset, "no-cache", false);
    });
  }
}

std::string_view type_of(const fs::path& p) {
  static const std::map<std::string, std::string_view, std::less<>> kTypes = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
      {".json", "application/json"},         {".wasm", "application/wasm"},
      {".png", "image/png"},                 {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"}, {".map", "application/json"},
      {".woff2", "font/woff2"}};
  const auto it = kTypes.find(p.extension().string());
  return it == kTypes.end() ? "application/octet-stream" : it->second;
}

// A name a request may ask for in the directory: no separators, no dot files, nothing that
// climbs out.
bool plain_name(std::string_view name) {
  if (name.empty() || name.front() == '.' || name.size() > 255) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// A file of --web-dir, read at each request (so a rebuild shows at the next reload).
HttpResponse from_disk(const HttpRequest& req, const fs::path& p, bool html) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return not_found();
  std::ostringstream bytes;
  bytes << in.rdbuf();
  const std::string body = std::move(bytes).str();
  return answer(req, EmbeddedAsset{{}, type_of(p), body, {}, {}}, "no-cache", html);
}

void add_directory(net::Router& router, const fs::path& dir) {
  if (!fs::is_regular_file(dir / "index.html")) {
    log::warn("event=web_dir_without_index dir={}", dir.string());
  }
  router.add("GET", "/", [dir](HttpRequest& req) -> asio::awaitable<HttpResponse> {
    co_return from_disk(req, dir / "index.html", true);
  });
  router.add("GET", "/assets/{}", [dir](HttpRequest& req) -> asio::awaitable<HttpResponse> {
    if (!plain_name(req.params[0])) co_return not_found();
    co_return from_disk(req, dir / "assets" / req.params[0], false);
  });
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const auto name = entry.path().filename().string();
    if (!entry.is_regular_file() || !plain_name(name) || name == "index.html") continue;
    router.add("GET", "/" + name, [p = entry.path()](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      co_return from_disk(req, p, false);
    });
  }
}

}  // namespace

void add_web_routes(net::Router& router, const WebOptions& options) {
  if (options.dir.empty()) {
    add_embedded(router);
  } else {
    add_directory(router, options.dir);
  }
}

}  // namespace parley::api
