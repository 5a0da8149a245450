// api::prepare_send (declared in request_context.hpp): the send path's first step, shared by
// REST and WebSocket. Kept apart from request_context.cpp so that the request parsing helpers
// there stay free of coroutines (the fuzz targets build them with clang, whose version 14
// cannot compile coroutines under AddressSanitizer).
#include "api/request_context.hpp"
#include "net/offload.hpp"
#include "service/file_service.hpp"

namespace parley::api {

boost::asio::awaitable<Result<chat::NewMessage>> prepare_send(ApiContext& ctx, const Caller& caller,
                                                              SendRequest request, bool group_only) {
  if (auto fast = ctx.service.try_prepare_send(caller, request, group_only)) co_return std::move(*fast);
  co_return co_await net::offload(ctx.blocking, [&]() -> Result<chat::NewMessage> {
    // The attachments are checked before anything else is done: a refused send changes nothing
    // (not even a first direct message's conversation).
    const std::vector<std::string> files = request.attachments;
    std::string attachments;
    if (!files.empty()) {
      if (!ctx.files) return make_error(Errc::bad_request, "file sharing is not enabled");
      auto resolved = ctx.files->resolve_attachments(caller.user_id, files);
      if (!resolved) return resolved.error();
      attachments = std::move(*resolved);
    }
    auto m = ctx.service.prepare_send(caller, std::move(request), group_only);
    if (!m || files.empty()) return m;
    if (auto s = ctx.files->link_attachments(files, *m); !s) return s.error();
    m->attachments = std::move(attachments);
    return m;
  });
}

}  // namespace parley::api
