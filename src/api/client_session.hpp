#pragma once
// ClientSession: one client's live session, whatever carries it. It holds what a session is
// beyond its wire format — the caller, its place in the Hub's fan-out, the in-flight cap, the
// typing limits, the presence grace, the wait for the bus's subscription — and runs the
// client's requests through the operations table (api/operations.hpp).
//
// A transport is a codec plus a connection: it derives from ClientSession, turns its wire format
// into request(name, id, args) calls, and implements the virtuals below to write answers and
// events in that format (api/ws_protocol.cpp: WebSocket JSON; SSE, long-poll and Socket.IO the
// same way). See docs/architecture.md, "How to add a transport".
//
// Lifetime: owned by the transport's connection (shared_ptr); the Hub holds it while attached,
// until closed(). Threads: everything on the session's shard, except LaterAnswer::answer and
// the Hub's deliver(), which post to it.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "api/codec.hpp"
#include "api/hub.hpp"
#include "api/operations.hpp"
#include "api/request_context.hpp"

namespace parley::api {

// At most one typing event per conversation per interval from one session, in at most 64
// conversations at a time (extra ones are answered {"sent": false} and go nowhere).
class TypingLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit TypingLimiter(std::chrono::milliseconds interval) : interval_(interval) {}
  enum class Verdict { send, throttled, too_many_conversations };
  Verdict check(const std::string& conv, Clock::time_point now) const;
  // The event for conv went out at `now` (or could not: forget()).
  void sent(const std::string& conv, Clock::time_point now);
  void forget(const std::string& conv) { last_.erase(conv); }
  std::size_t tracked() const { return last_.size(); }

  static constexpr std::size_t kMaxConversations = 64;

 private:
  std::chrono::milliseconds interval_;
  std::unordered_map<std::string, Clock::time_point> last_;
};

class ClientSession : public EventSink, public std::enable_shared_from_this<ClientSession> {
 public:
  ClientSession(ApiContext& ctx, std::optional<Caller> caller);

  // ---- for the transport
  // The connection is up: joins the fan-out if the caller is known, else gives the client
  // auth_timeout to authenticate.
  void opened();
  // One request: the session-level `auth` (the first, or a new token for the same user), or an
  // operation of the table. Answered now, later
  // (Later), or by the returned coroutine, which the transport runs before it reads the
  // client's next request. `args` is valid only during the call.
  std::optional<boost::asio::awaitable<void>> request(std::string_view name, json::value id,
                                                      json::object& args);
  // The connection is gone: leaves the fan-out and starts the presence grace.
  void closed();

  const std::optional<Caller>& caller() const { return caller_; }

  // ---- for operations
  // An answer that comes after run() returned: holds one of the session's in-flight slots
  // (ApiOptions::max_inflight_sends) until answer() runs.
  class LaterAnswer {
   public:
    // From any thread: `render(storage)` runs on the session's shard, with an arena's storage for
    // its JSON, and its OpResult answers the request.
    template <class Render>
    void answer(Render render) && {
      auto session = std::move(session_);
      session->on_shard([session, id = std::move(id_), render = std::move(render)]() mutable {
        JsonArena arena;
        --session->inflight_;
        session->send_reply(id, render(arena.storage()));
      });
    }

   private:
    friend class ClientSession;
    LaterAnswer(std::shared_ptr<ClientSession> session, json::value id)
        : session_(std::move(session)), id_(std::move(id)) {}
    std::shared_ptr<ClientSession> session_;
    json::value id_;
  };
  bool has_inflight_slot() const { return inflight_ < ctx_.options.max_inflight_sends; }
  LaterAnswer answer_later(const json::value& id);
  TypingLimiter& typing() { return typing_; }

  // ---- EventSink (on the shard)
  void deliver(const EventPtr& event) override;

 protected:
  // ---- what the transport implements, all on the shard
  // The answer to request `id`, in the transport's wire format.
  virtual void send_reply(const json::value& id, OpResult result) = 0;
  // An event for this session (already checked to be its own).
  virtual void send_event(const EventPtr& event) = 0;
  // The session must end because it is not (or no longer) authenticated: the auth timed out or
  // failed, a request came before auth, or its login session was logged out.
  virtual void end_unauthenticated(std::string_view reason) = 0;
  // Runs fn on the session's shard, from any thread; dropped if the connection is gone by then.
  virtual void on_shard(std::function<void()> fn) = 0;
  virtual boost::asio::any_io_executor executor() = 0;
  virtual std::size_t shard() const = 0;
  // For logs: "ws conn=12".
  virtual std::string describe() const = 0;

  // Suspends until every event for the caller reaches this session, for at most kSubscribeWait
  // (a Redis that never answers must not hold the session: the cluster bus tells sessions to
  // resync anyway).
  boost::asio::awaitable<void> until_subscribed();

  ApiContext& ctx_;

 private:
  void authenticate(const json::value& id, const json::object& args);
  // Joins the fan-out; `auth_id`: the auth request to answer once subscribed.
  void attach(std::optional<json::value> auth_id = std::nullopt);
  // Every event for the caller now reaches this session: answers the auth request, and lets
  // operations that must not miss an event run (Operation::after_subscribed).
  void subscribed(const std::optional<json::value>& auth_id);
  // Runs op on a heap copy of its arguments once subscribed (Operation::after_subscribed) and
  // admitted by its rate limit (Operation::throttle).
  boost::asio::awaitable<void> run_deferred(const Operation& op, json::value id,
                                            json::object args);
  // The user's last session closed: after the grace period, announce offline unless they came
  // back (a reload or a flaky network stays invisible to everyone else).
  void settle_presence_later();

  // The access token's lifetime: when it expires the client gets a `session` event
  // ({"change":"expired"}) and reauth_grace to send a new token with `auth`, else the session
  // ends (docs/protocol.md, "Tokens that expire").
  void arm_expiry();
  void wait_expiry(std::chrono::milliseconds after);
  void token_expired();

  std::optional<Caller> caller_;
  std::unique_ptr<boost::asio::steady_timer> auth_timer_;
  std::unique_ptr<boost::asio::steady_timer> expiry_timer_;  // the token's expiry, then the grace
  bool reauth_due_ = false;  // the token expired; the grace is running
  std::uint64_t expiry_generation_ = 0;  // of the latest wait: older ones are stale
  std::size_t inflight_ = 0;
  TypingLimiter typing_;
  bool attached_ = false;
  bool subscribed_ = false;
  bool closed_ = false;
  std::unique_ptr<boost::asio::steady_timer> subscription_wait_;  // until_subscribed()'s
};

}  // namespace parley::api
