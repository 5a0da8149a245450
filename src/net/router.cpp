#include "net/router.hpp"

namespace parley::net {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t pos = path.starts_with('/') ? 1 : 0;
  while (pos <= path.size()) {
    const auto next = path.find('/', pos);
    const auto end = next == path.npos ? path.size() : next;
    out.push_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

namespace {

std::vector<std::string> segments_of(std::string_view pattern) {
  std::vector<std::string> out;
  for (auto part : split_path(pattern)) out.emplace_back(part);
  return out;
}

bool matches(const std::vector<std::string>& pattern, const std::vector<std::string_view>& path,
             std::vector<std::string>& params) {
  if (pattern.size() != path.size()) return false;
  params.clear();
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == "{}") {
      if (path[i].empty()) return false;
      params.emplace_back(path[i]);
    } else if (pattern[i] != path[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

void Router::add(std::string method, std::string pattern, HttpHandler handler,
                 RouteOptions options) {
  routes_.push_back(
      Route{std::move(method), segments_of(pattern), std::move(handler), {}, {}, options});
}

void Router::websocket(std::string pattern, WsUpgradeHandler handler) {
  routes_.push_back(Route{{}, segments_of(pattern), {}, std::move(handler), {}, {}});
}

void Router::stream(std::string pattern, StreamHandler handler, RouteOptions options) {
  routes_.push_back(Route{"GET", segments_of(pattern), {}, {}, std::move(handler), options});
}

Router::Match Router::match(std::string_view method, std::string_view path, bool websocket) const {
  Match m;
  const auto parts = split_path(path);
  for (const auto& route : routes_) {
    const bool is_websocket = route.method.empty();
    if (is_websocket != websocket) continue;
    if (!matches(route.segments, parts, m.params)) continue;
    if (is_websocket || route.method == method) {
      m.route = &route;
      m.allowed.clear();
      return m;
    }
    if (m.allowed.find(route.method) == std::string::npos) {
      m.allowed += (m.allowed.empty() ? "" : ", ") + route.method;
    }
  }
  m.params.clear();
  return m;
}

}  // namespace parley::net
