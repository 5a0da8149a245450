// api::prepare_send (declared in request_context.hpp): the send path's first step, shared by
// REST and WebSocket. Kept apart from request_context.cpp so that the request parsing helpers
// there stay free of coroutines (the fuzz targets build them with clang, whose version 14
// cannot compile coroutines under AddressSanitizer).
#include "api/request_context.hpp"
#include "net/offload.hpp"

namespace parley::api {

boost::asio::awaitable<Result<chat::NewMessage>> prepare_send(ApiContext& ctx, const Caller& caller,
                                                              SendRequest request, bool group_only) {
  if (auto fast = ctx.service.try_prepare_send(caller, request, group_only)) co_return std::move(*fast);
  co_return co_await net::offload(ctx.blocking, [&] {
    return ctx.service.prepare_send(caller, std::move(request), group_only);
  });
}

}  // namespace parley::api
