#pragma once
// The operations table: every client operation defined once — its name, whether it needs a
// caller, how its request is parsed and validated, which ChatService call it makes, and how its
// result renders. Transports bind to it instead of implementing operations:
//   - REST (api/rest_routes.cpp) maps a method and path onto an operation and its fields;
//   - WebSocket and every later socket transport (api/client_session.hpp) call it by name.
// Errors map to an HTTP status (http_status) and a socket error reply (error_json) in one place
// each, from the error's code. Adding an operation is one entry here plus its service call
// (docs/architecture.md, "How to add an operation").
//
// Request fields are named as in docs/protocol.md's WebSocket ops (`conv`, `to`, `body`, `seq`…);
// the REST binding renames its own (`recipient` → `to`, `message` → `body`) and adds path
// parameters before calling.
//
// Threads: run() on the caller's shard; what it awaits offloads blocking calls to the pool.

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <span>
#include <string_view>
#include <variant>

#include "api/request_context.hpp"
#include "api/throttle.hpp"
#include "core/result.hpp"
#include "net/offload.hpp"

namespace parley::api {

namespace json = boost::json;

class ClientSession;

// One request, as a transport hands it to an operation.
struct OpCall {
  ApiContext& ctx;
  const Caller* caller;  // set when the operation needs_caller
  // The request's fields. Valid only until run() returns (on the WebSocket path they live in an
  // arena on the stack): an operation that suspends copies what it needs first.
  json::object& args;
  // The live session the request came on (WebSocket, Socket.IO), or null (REST): the state that
  // spans requests — the in-flight cap, typing limits — lives there.
  ClientSession* session = nullptr;
  // The request's id, for an answer that comes later (Later).
  const json::value* id = nullptr;
  // login's device name when the request names none (REST: the User-Agent).
  std::string_view default_device = {};
};

using OpResult = Result<json::object>;
// The answer comes later, through ClientSession::answer_later: the session goes on reading the
// client's next requests meanwhile (a send's ack waits for durability, not for the next send).
struct Later {};
// What run() gives back: the answer now, a coroutine that produces it (the transport reads
// nothing more from that client until it ends, which keeps one client's requests in order), or
// Later.
using OpReply = std::variant<OpResult, boost::asio::awaitable<OpResult>, Later>;

struct Operation {
  std::string_view name;  // the WebSocket op; docs/protocol.md
  bool needs_caller = true;
  // Also a WebSocket op; false: REST only (accounts, groups — the protocol's op list).
  bool on_sockets = true;
  int rest_status = 200;  // the REST status of a success (201 for what it creates)
  // A session answers only once the caller's events are sure to reach it (in a cluster: the bus
  // confirmed the subscription), so what it reads leaves no hole before live events (sync).
  bool after_subscribed = false;
  OpReply (*run)(OpCall& call) = nullptr;
  // The rate limit every transport applies around it (api/throttle.hpp).
  Throttle throttle = Throttle::none;
};

// Every operation of the core table, in the order docs/protocol.md lists them. A module's own
// operations (REST only: api/push) live in its own table, bound by add_operation_routes
// (api/rest_routes.hpp).
std::span<const Operation> operations();
// The core operation called `name`, or null.
const Operation* find_operation(std::string_view name);

// Runs a blocking service call on the pool and renders its value: how most operations answer.
// `call` and `render` hold copies of what they need (the request's fields are gone once run()
// returns).
template <class Call, class Render>
boost::asio::awaitable<OpResult> blocking(ApiContext& ctx, Call call, Render render) {
  auto result = co_await net::offload(ctx.blocking, std::move(call));
  if (!result) co_return result.error();
  co_return render(*result);
}

}  // namespace parley::api
