#include "api/push/push_routes.hpp"

#include <boost/json.hpp>

#include "api/request_context.hpp"
#include "net/router.hpp"

namespace parley::api {

void add_push_routes(net::Router& router, std::string vapid_public_key_b64) {
  router.add("GET", "/push/vapid-public-key",
             [key = std::move(vapid_public_key_b64)](net::HttpRequest&) -> boost::asio::awaitable<net::HttpResponse> {
               if (key.empty()) {
                 co_return error_response(make_error(
                     Errc::not_found, "Web Push is off on this node (a cluster needs --vapid-key-file)"));
               }
               co_return json_response(200, boost::json::object{{"public_key", key}});
             });
}

}  // namespace parley::api
