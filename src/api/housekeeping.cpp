#include "api/housekeeping.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/logging.hpp"
#include "net/offload.hpp"

namespace parley::api {

namespace asio = boost::asio;

namespace {

asio::awaitable<void> flush_last_seen_forever(ApiContext& ctx) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(ctx.options.last_seen_flush);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    auto status = co_await net::offload(ctx.blocking, [&] { return ctx.service.flush_last_seen(); });
    if (!status) log::warn("event=last_seen_flush_failed error=\"{}\"", status.error().message);
  }
}

}  // namespace

void start_housekeeping(ApiContext& ctx, net::ShardPool& shards) {
  asio::co_spawn(shards.context(0), flush_last_seen_forever(ctx), asio::detached);
}

}  // namespace parley::api
