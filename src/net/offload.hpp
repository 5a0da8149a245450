#pragma once
// Coroutine helpers for leaving a shard and coming back.
//
//   auto page = co_await offload(pool, [&] { return service.history(...); });
// runs blocking work (SQLite, argon2id) on the blocking pool and resumes the coroutine on its own
// shard with the result. Captured references stay valid: the coroutine is suspended meanwhile.
//
//   auto r = co_await await_callback<Result<X>>([&](auto done) { api.start(..., done); });
// waits for a callback-style operation whose callback may run on any thread.
//
// GCC 12 miscompiles a temporary that is brace-initialized (a lambda with captures, an aggregate)
// inside a co_await expression when it owns memory: `co_await g(Named{s})` or `co_await
// g([s] {…})` frees s twice. Name such an object first (`auto f = […]; co_await g(std::move(f));`)
// or create it outside the co_await, as below; lambdas that capture only references are safe.

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>

namespace parley::net {

template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> offload(boost::asio::thread_pool& pool, F f) {
  namespace asio = boost::asio;
  using R = std::invoke_result_t<F&>;
  auto home = co_await asio::this_coro::executor;
  // What f throws is caught on the pool and rethrown here, in the awaiting coroutine (whose
  // completion handler reports it, core/failures.hpp): escaping a pool thread would terminate.
  auto initiation = [&pool, home, f = std::move(f)](auto handler) mutable {
    asio::post(pool, [home, f = std::move(f), handler = std::move(handler)]() mutable {
      std::exception_ptr failure;
      std::optional<R> result;
      try {
        result.emplace(f());
      } catch (...) {
        failure = std::current_exception();
      }
      asio::post(home, [handler = std::move(handler), failure, result = std::move(result)]() mutable {
        std::move(handler)(failure, std::move(result));
      });
    });
  };
  auto outcome = co_await asio::async_initiate<const asio::use_awaitable_t<>&,
                                               void(std::exception_ptr, std::optional<R>)>(
      std::move(initiation), asio::use_awaitable);
  co_return std::move(*outcome);
}

template <class R, class Start>
boost::asio::awaitable<R> await_callback(Start start) {
  namespace asio = boost::asio;
  auto home = co_await asio::this_coro::executor;
  auto initiation = [home, start = std::move(start)](auto handler) mutable {
    // The callback may be copied (std::function); the awaitable handler may not.
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    start([home, shared](R result) {
      asio::post(home, [shared, result = std::move(result)]() mutable {
        std::move(*shared)(std::move(result));
      });
    });
  };
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(R)>(
      std::move(initiation), asio::use_awaitable);
}

}  // namespace parley::net
