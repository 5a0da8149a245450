#include "api/housekeeping.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/failures.hpp"
#include "core/logging.hpp"
#include "net/offload.hpp"
#include "service/file_service.hpp"

namespace parley::api {

namespace asio = boost::asio;

namespace {

// Runs job every `period` until the shards stop.
template <class Job>
asio::awaitable<void> every(std::chrono::milliseconds period, Job job) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(period);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    co_await job();
  }
}

}  // namespace

void start_housekeeping(ApiContext& ctx, net::ShardPool& shards) {
  auto flush_last_seen = [&ctx]() -> asio::awaitable<void> {
    auto status = co_await net::offload(ctx.blocking, [&] { return ctx.service.flush_last_seen(); });
    if (!status) log::warn("event=last_seen_flush_failed error=\"{}\"", status.error().message);
  };
  // On the presence strand: in order with the arrivals and departures it refreshes.
  auto presence_heartbeat = [&ctx]() -> asio::awaitable<void> {
    asio::post(ctx.presence, [&ctx] { ctx.service.presence_heartbeat(); });
    co_return;
  };
  asio::co_spawn(shards.context(0), every(ctx.options.last_seen_flush, flush_last_seen),
                 log_failure("last_seen_flush"));
  // The first heartbeat at once: it makes this node known to the cluster's presence before its
  // first users arrive (so that, should it die, another node announces them offline).
  asio::post(ctx.presence, [&ctx] { ctx.service.presence_heartbeat(); });
  asio::co_spawn(shards.context(0), every(ctx.options.presence_heartbeat, presence_heartbeat),
                 log_failure("presence_heartbeat"));
  for (const auto& chore : ctx.chores) {
    auto run = [&ctx, &chore]() -> asio::awaitable<void> {
      co_await net::offload(ctx.blocking, [&chore] {
        chore.run();
        return 0;
      });
    };
    asio::co_spawn(shards.context(0), every(chore.period, run), log_failure(chore.name.c_str()));
  }
  if (ctx.files) {
    // Uploads never attached: swept twice per --orphan-upload-ttl, at least every 10 minutes.
    const auto ttl = std::chrono::duration_cast<std::chrono::milliseconds>(
        ctx.files->options().orphan_upload_ttl);
    const auto period = std::clamp<std::chrono::milliseconds>(ttl / 2, std::chrono::seconds(1),
                                                              std::chrono::minutes(10));
    auto expire_orphans = [&ctx]() -> asio::awaitable<void> {
      auto removed = co_await net::offload(ctx.blocking, [&] { return ctx.files->expire_orphans(); });
      if (!removed) log::warn("event=file_orphans_failed error=\"{}\"", removed.error().message);
    };
    asio::co_spawn(shards.context(0), every(period, expire_orphans), log_failure("file_orphans"));
  }
}

}  // namespace parley::api
