#pragma once
// The REST binding of the operations table (docs/protocol.md, "REST"): each route names an
// operation and where its fields come from — path segments, query parameters, the JSON body —
// and how REST names them; the operation does the rest. Errors answer with the status of their
// code (http_status) and the error body.
//
// Threads: handlers run on the connection's shard; operations offload blocking calls.

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <string_view>

#include "api/operations.hpp"
#include "api/request_context.hpp"
#include "net/http_types.hpp"
#include "net/router.hpp"

namespace parley::api {

// Where one field of an operation's request comes from in a REST request.
struct RestField {
  enum class From : std::uint8_t { path, query, body };
  // How a path or query text becomes the field (a body field is passed as it is).
  enum class Kind : std::uint8_t { text, integer, positive_integer };
  From from = From::body;
  std::string_view name;     // the REST name: the query parameter or body field (unused for path)
  std::string_view arg = {};  // the operation's name for it, when it differs
  Kind kind = Kind::text;
  bool required = false;  // absent: "'name' is required" (the REST name, not the operation's)
  bool keeps_null = false;  // a JSON null is passed on (it means something), not dropped as absent
};

struct RestRoute {
  std::string_view method;
  std::string_view pattern;  // "{}" captures one segment: path fields take them in order
  std::string_view operation;
  std::array<RestField, 6> fields = {};  // unused entries have no name and are not path fields
  bool json_body = false;                // the request must carry a JSON object
  std::string_view unwrap = {};          // answer with this field of the result alone
  // Without a client_msg_id a REST send is not idempotent: each call gets a new one.
  bool generate_client_msg_id = false;
};

// The operation's fields for one REST request, or the error to answer.
Result<json::object> rest_arguments(const RestRoute& route, const net::HttpRequest& request);
// Runs operation `op` for one request of its route and renders its answer.
boost::asio::awaitable<net::HttpResponse> handle_rest(ApiContext& ctx, const RestRoute& route,
                                                      const Operation& op,
                                                      net::HttpRequest& request);

// Registers the REST routes of the core operations table, and the node's own pages (/healthz,
// /metrics).
void add_rest_routes(net::Router& router, ApiContext& ctx);
// Registers a module's routes, each bound to the operation of its name in `ops` (a module's own
// table: adding a module's REST operations touches only the module). Both spans must outlive
// the router (static tables). Throws std::logic_error for a route that names no operation.
void add_operation_routes(net::Router& router, ApiContext& ctx, std::span<const RestRoute> routes,
                          std::span<const Operation> ops);

}  // namespace parley::api
