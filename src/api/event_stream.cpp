#include "api/event_stream.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "api/client_session.hpp"
#include "api/codec.hpp"
#include "api/stream_cursor.hpp"
#include "core/failures.hpp"
#include "core/logging.hpp"
#include "net/http_stream.hpp"
#include "net/offload.hpp"

namespace parley::api {

namespace asio = boost::asio;
using namespace chat;

namespace {

// Live events held while a replay runs; past this the session resyncs rather than grow.
constexpr std::size_t kMaxBuffered = 10'000;
// Replay reads a conversation's history in pages of this many messages.
constexpr int kReplayPage = 200;

// What the module's routes share: the saved cursor bases, and the poll now held per login
// session (a second one ends the first).
class PollSession;
struct StreamShared {
  CursorBases bases;
  std::mutex polls_mutex;
  std::unordered_map<SessionId, std::weak_ptr<PollSession>> polls;  // guarded by polls_mutex
};

// ---- the replay: what the store holds beyond a position [blocking]

struct ReplayItem {
  Message msg;
  bool updated = false;  // message_updated (an edit or delete), else message
};
struct Replay {
  Positions start;      // where the stream stood before the items
  Positions positions;  // where it stands after them
  std::vector<ReplayItem> items;
  bool resync = false;  // the position was too far behind: the client must run sync
  std::optional<Error> failure;
};

// From `from` (nullopt: a new stream, which starts now), for every conversation of the caller.
Replay plan_replay(ChatService& service, const Caller& caller, const std::optional<Positions>& from,
                   std::size_t max_messages) {
  Replay out;
  auto state = service.sync(caller);
  if (!state) {
    out.failure = state.error();
    return out;
  }
  auto now_positions = [&] {
    Positions p;
    for (const auto& s : state->conversations) {
      p[s.conversation.id] = {s.conversation.last_seq, s.conversation.last_rev};
    }
    return p;
  };
  if (!from) {
    out.positions = now_positions();
    out.start = out.positions;
    return out;
  }
  // How much there is to replay, known before anything is read.
  std::size_t behind = 0;
  for (const auto& s : state->conversations) {
    const auto it = from->find(s.conversation.id);
    const Seq start = it == from->end() ? s.joined_seq : it->second.seq;
    if (s.conversation.last_seq > start) behind += static_cast<std::size_t>(s.conversation.last_seq - start);
  }
  if (behind > max_messages) {
    out.positions = now_positions();
    out.start = out.positions;
    out.resync = true;
    return out;
  }
  for (const auto& s : state->conversations) {
    const ConvId& conv = s.conversation.id;
    const auto it = from->find(conv);
    // A conversation the cursor does not name was joined after it: from the join on, and none
    // of the edits of what came before.
    ConvPosition at = it == from->end() ? ConvPosition{s.joined_seq, s.conversation.last_rev}
                                        : it->second;
    out.start[conv] = at;
    if (at.rev < s.conversation.last_rev) {
      // Edits and deletes of messages the client has; the newer messages come in their current
      // state below.
      std::int64_t after = at.rev;
      for (;;) {
        auto page = service.changes(caller, conv, after, kReplayPage);
        if (!page) {
          out.failure = page.error();
          return out;
        }
        for (auto& m : page->messages) {
          after = std::max(after, m.rev);
          if (m.seq <= at.seq) out.items.push_back({std::move(m), true});
        }
        if (!page->has_more || page->messages.empty()) break;
      }
      at.rev = after;
    }
    if (s.conversation.last_seq > at.seq) {
      for (;;) {
        HistoryRequest request;
        request.after = at.seq;
        request.limit = kReplayPage;
        auto page = service.history(caller, conv, request);
        if (!page) {
          out.failure = page.error();
          return out;
        }
        for (auto& m : page->messages) {
          at.seq = std::max(at.seq, m.seq);
          at.rev = std::max(at.rev, m.rev);
          out.items.push_back({std::move(m), false});
        }
        if (!page->has_more || page->messages.empty()) break;
      }
    }
    out.positions[conv] = at;
  }
  return out;
}

// ---- the session both transports share

class EventStreamSession : public ClientSession {
 public:
  // `resume`: the client's cursor text, if it sent one.
  EventStreamSession(ApiContext& ctx, Caller caller, std::shared_ptr<StreamShared> shared,
                     std::optional<std::string> resume)
      : ClientSession(ctx, caller),
        shared_(std::move(shared)),
        position_(caller.user_id, shared_->bases),
        resume_(std::move(resume)) {}

 protected:
  // One event for the client. `cursor`: the stream's cursor after it (message events only).
  virtual void emit(std::string_view name, net::OutBytes json, const std::string* cursor) = 0;
  // The replay is done and the stream is live; `cursor` is where it stands.
  virtual void on_live(const std::string& cursor) = 0;
  // The session cannot go on (the store failed).
  virtual void on_failure(const Error& e) = 0;
  bool ended() const { return ended_; }
  void end_stream() { ended_ = true; }
  std::string cursor() { return position_.cursor(); }

  // Starts the replay; call once the connection is up (after opened()).
  void start() {
    asio::co_spawn(executor(), replay(true), log_failure("event_stream_replay"));
  }

  // ---- ClientSession
  void send_reply(const json::value&, OpResult) override {}  // nothing is asked on a stream
  void send_event(const EventPtr& event) override {
    if (ended_) return;
    if (replaying_) {
      if (buffered_.size() >= kMaxBuffered) {
        buffered_.clear();
        return resync_now();
      }
      buffered_.push_back(event);
      return;
    }
    live(event);
  }

 private:
  asio::awaitable<void> replay(bool first) {
    auto self = shared_from_this();  // the session outlives its replay
    replaying_ = true;
    co_await until_subscribed();  // every event published from now on reaches this session
    std::optional<Positions> from;
    bool resync = false;
    if (!first) {
      from = position_.positions();
    } else if (resume_) {
      const auto decoded = decode_cursor(*resume_);
      std::optional<Positions> base;
      if (decoded && decoded->user == caller()->user_id) {
        base = decoded->base ? shared_->bases.load(decoded->user, decoded->base) : Positions{};
      }
      if (base) {
        for (const auto& [conv, at] : decoded->entries) (*base)[conv] = at;
        from = std::move(base);
      } else {
        resync = true;  // unknown, another user's, or saved on another node or before a restart
      }
    }
    const std::size_t max = ctx_.options.stream_replay_max_messages;
    // Named, not a temporary in the co_await expression (GCC 12, net/offload.hpp).
    auto read = [&service = ctx_.service, caller = *caller(), from, max] {
      return plan_replay(service, caller, from, max);
    };
    Replay plan = co_await net::offload(ctx_.blocking, std::move(read));
    if (!ended_) apply(std::move(plan), first, resync);
  }

  // Sends what the replay found, then the live events held meanwhile.
  void apply(Replay plan, bool first, bool resync) {
    if (plan.failure) {
      replaying_ = false;
      on_failure(*plan.failure);
      return;
    }
    resync = resync || plan.resync;
    if (resync) {
      log::info("event=stream_resync {} user={} reason={}", describe(), caller()->user_id,
                plan.resync ? "too_far_behind" : "unknown_cursor");
    }
    if (first || resync) position_.reset(std::move(plan.start));
    if (resync) emit("resync", net::OutBytes(resync_frame()), nullptr);
    for (auto& item : plan.items) {
      if (ended_) return;
      position_.advance(item.msg.conv, item.updated ? 0 : item.msg.seq, item.msg.rev);
      auto text = item.updated ? event_frame(MessageUpdatedEvent{std::move(item.msg)})
                               : event_frame(MessageEvent{std::move(item.msg)});
      const std::string at = position_.cursor();
      emit(item.updated ? "message_updated" : "message", net::OutBytes(std::move(text)), &at);
    }
    // Edits of messages the replay carried in their new state, and conversations it had nothing
    // for: the stream is past them too.
    for (const auto& [conv, at] : plan.positions) position_.advance(conv, at.seq, at.rev);
    replaying_ = false;
    gap_replayed_ = !first;
    std::deque<EventPtr> held;
    held.swap(buffered_);
    for (const auto& event : held) {
      if (ended_) return;
      if (replaying_) {  // another gap: held until that replay is done
        buffered_.push_back(event);
        continue;
      }
      live(event);
    }
    if (!ended_ && first) on_live(position_.cursor());
  }

  void live(const EventPtr& event) {
    const auto& at = event->position();
    if (!at) return emit(event->name(), net::OutBytes(event, event->json()), nullptr);
    const auto known = position_.positions().find(at->conv);
    if (known != position_.positions().end()) {
      if (at->updated ? at->rev <= known->second.rev : at->seq <= known->second.seq) {
        return;  // the replay carried it already
      }
      if (!at->updated && at->seq > known->second.seq + 1 && !gap_replayed_) {
        // A message is missing before this one: read it from the store, then go on.
        buffered_.push_back(event);
        replaying_ = true;
        asio::co_spawn(executor(), replay(false), log_failure("event_stream_replay"));
        return;
      }
    }
    gap_replayed_ = false;
    position_.advance(at->conv, at->updated ? 0 : at->seq, at->rev);
    const std::string cursor = position_.cursor();
    emit(event->name(), net::OutBytes(event, event->json()), &cursor);
  }

  void resync_now() {
    log::info("event=stream_resync {} user={} reason=buffer_full", describe(), caller()->user_id);
    emit("resync", net::OutBytes(resync_frame()), nullptr);
  }

  std::shared_ptr<StreamShared> shared_;
  StreamPosition position_;
  std::optional<std::string> resume_;
  std::deque<EventPtr> buffered_;  // live events that came during a replay
  bool replaying_ = false;
  // A gap's replay just ran: a gap right after it is the store's, not ours; go on.
  bool gap_replayed_ = false;
  bool ended_ = false;

 protected:
  std::shared_ptr<StreamShared>& shared() { return shared_; }
};

// ---- SSE

class SseSession final : public EventStreamSession, public net::HttpStreamListener {
 public:
  using EventStreamSession::EventStreamSession;

  void on_open(const std::shared_ptr<net::HttpStream>& stream) override {
    stream_ = stream;
    // The client retries after 2 s by default (EventSource's own default is 3 s).
    stream_->write({net::OutBytes(std::string("retry: 2000\n\n"))});
    opened();
    start();
    heartbeat();
  }
  void on_close() override {
    end_stream();
    if (timer_) timer_->cancel();
    closed();
    stream_.reset();
  }

 private:
  void emit(std::string_view name, net::OutBytes json, const std::string* cursor) override {
    if (!stream_) return;
    std::string head = "event: ";
    head += name;
    if (cursor) {
      head += "\nid: ";
      head += *cursor;
    }
    head += "\ndata: ";
    static const auto kEnd = std::make_shared<const std::string>("\n\n");
    stream_->write({net::OutBytes(std::move(head)), std::move(json), net::OutBytes(kEnd, *kEnd)});
  }
  void on_live(const std::string& cursor) override {
    // Where the stream stands, for a client that receives nothing before it reconnects.
    emit("ready", net::OutBytes(json::serialize(json::object{{"ev", "ready"}, {"cursor", cursor}})),
         &cursor);
  }
  void on_failure(const Error& e) override {
    log::warn("event=stream_failed {} error=\"{}\"", describe(), e.message);
    if (stream_) stream_->end();
  }
  void end_unauthenticated(std::string_view) override {
    if (stream_) stream_->end();
  }
  void heartbeat() {
    if (!timer_) timer_ = std::make_unique<asio::steady_timer>(stream_->executor());
    timer_->expires_after(ctx_.options.sse_heartbeat);
    timer_->async_wait([weak = std::weak_ptr<ClientSession>(shared_from_this()), this](
                           boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || !stream_) return;
      static const auto kBeat = std::make_shared<const std::string>(": heartbeat\n\n");
      stream_->write({net::OutBytes(kBeat, *kBeat)});
      heartbeat();
    });
  }
  void on_shard(std::function<void()> fn) override {
    if (stream_) stream_->post(std::move(fn));
  }
  asio::any_io_executor executor() override { return stream_->executor(); }
  std::size_t shard() const override { return stream_ ? stream_->shard() : 0; }
  std::string describe() const override {
    return "transport=sse conn=" + std::to_string(stream_ ? stream_->id() : 0);
  }

  std::shared_ptr<net::HttpStream> stream_;
  std::unique_ptr<asio::steady_timer> timer_;
};

// ---- long-poll

class PollSession final : public EventStreamSession {
 public:
  PollSession(ApiContext& ctx, Caller caller, std::shared_ptr<StreamShared> shared,
              std::optional<std::string> resume, asio::any_io_executor executor, std::size_t shard,
              std::uint64_t conn)
      : EventStreamSession(ctx, std::move(caller), std::move(shared), resume),
        executor_(executor),
        shard_(shard),
        conn_(conn),
        wake_(executor),
        // Answered before it is live (a newer poll took over): nothing consumed, same cursor.
        cursor_(resume.value_or("")) {}

  // Holds the request until there is something to answer, or `timeout`.
  asio::awaitable<net::HttpResponse> answer(std::chrono::seconds timeout) {
    auto self = shared_from_this();
    take_over();
    opened();
    // The hold starts once the replay is done (on_live): even ?timeout=0 answers with what the
    // cursor missed, not with an empty list because the replay had not run yet.
    timeout_ = timeout;
    wake_.expires_at(asio::steady_timer::time_point::max());
    start();
    boost::system::error_code ec;
    while (!answered_ && !timed_out_) {
      co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (!ec) timed_out_ = true;  // the timer ran out; cancelled means woken
    }
    end_stream();
    closed();
    release();
    if (failure_) co_return error_response(*failure_);
    net::HttpResponse r;
    r.body = "{\"events\":[" + body_ + "],\"cursor\":" + json::serialize(json::value(cursor_)) +
             (more_ ? ",\"more\":true}" : "}");
    co_return r;
  }

  // A newer poll of the same login session: answer now.
  void supersede() {
    asio::post(executor_, [weak = weak_from_this(), this] {
      if (auto self = weak.lock()) finish();
    });
  }

 private:
  void take_over() {
    std::shared_ptr<PollSession> previous;
    {
      std::lock_guard lock(shared()->polls_mutex);
      auto& slot = shared()->polls[caller()->session_id];
      previous = slot.lock();
      slot = std::static_pointer_cast<PollSession>(shared_from_this());
    }
    if (previous) previous->supersede();
  }
  void release() {
    std::lock_guard lock(shared()->polls_mutex);
    const auto it = shared()->polls.find(caller()->session_id);
    if (it != shared()->polls.end() && it->second.lock().get() == this) shared()->polls.erase(it);
  }

  void emit(std::string_view, net::OutBytes json, const std::string* cursor) override {
    if (answered_) return;
    const std::size_t max = ctx_.options.poll_max_bytes;
    if (!body_.empty() && body_.size() + json.bytes.size() + 1 > max) {
      more_ = true;  // the rest waits for the next poll, which starts from cursor_
      finish();
      return;
    }
    if (!body_.empty()) body_ += ',';
    body_ += json.bytes;
    if (cursor) cursor_ = *cursor;
    if (live_) finish_soon();
  }
  void on_live(const std::string& cursor) override {
    live_ = true;
    if (body_.empty() || cursor_.empty()) cursor_ = cursor;
    if (!body_.empty()) {
      finish();
    } else if (!answered_) {
      wake_.expires_after(timeout_);  // wakes the pending wait, which then waits for the hold
    }
  }
  void on_failure(const Error& e) override {
    failure_ = e;
    finish();
  }
  void end_unauthenticated(std::string_view) override {
    failure_ = make_error(Errc::unauthenticated, "logged out");
    finish();
  }
  // Events that come in one turn of the shard's loop go out in one answer.
  void finish_soon() {
    if (finishing_) return;
    finishing_ = true;
    asio::post(executor_, [weak = weak_from_this(), this] {
      if (auto self = weak.lock()) finish();
    });
  }
  void finish() {
    if (answered_) return;
    answered_ = true;
    wake_.cancel();
  }

  void on_shard(std::function<void()> fn) override {
    asio::post(executor_, [weak = weak_from_this(), this, fn = std::move(fn)] {
      if (weak.lock() && !answered_) fn();
    });
  }
  asio::any_io_executor executor() override { return executor_; }
  std::size_t shard() const override { return shard_; }
  std::string describe() const override { return "transport=poll conn=" + std::to_string(conn_); }

  asio::any_io_executor executor_;
  const std::size_t shard_;
  const std::uint64_t conn_;
  asio::steady_timer wake_;
  std::chrono::seconds timeout_{0};
  std::string body_;    // the events, JSON texts joined by commas
  std::string cursor_;  // after the last event in body_
  std::optional<Error> failure_;
  bool live_ = false;
  bool more_ = false;
  bool finishing_ = false;
  bool answered_ = false;
  bool timed_out_ = false;
};

// ---- the routes

// The caller of a stream request: "Authorization: Bearer" or ?access_token= (EventSource cannot
// set headers).
Result<Caller> stream_caller(ApiContext& ctx, const net::HttpRequest& request) {
  std::optional<std::string> token;
  if (auto bearer = bearer_token(request.authorization)) {
    token = std::string(*bearer);
  } else {
    token = query_param(request.query, "access_token");
  }
  if (!token) return make_error(Errc::unauthenticated, "missing bearer token");
  return ctx.service.authenticate(*token);
}

net::StreamStart open_sse(ApiContext& ctx, const std::shared_ptr<StreamShared>& shared,
                          const net::HttpRequest& request) {
  auto caller = stream_caller(ctx, request);
  if (!caller) {
    net::StreamStart refused;
    refused.reject = error_response(caller.error());
    return refused;
  }
  std::optional<std::string> resume;
  if (!request.last_event_id.empty()) {
    resume = request.last_event_id;
  } else {
    resume = query_param(request.query, "last_event_id");
  }
  net::StreamStart start;
  start.listener = std::make_shared<SseSession>(ctx, std::move(*caller), shared, std::move(resume));
  start.content_type = "text/event-stream";
  start.headers.emplace_back("X-Accel-Buffering", "no");  // proxies must not hold events back
  return start;
}

asio::awaitable<net::HttpResponse> poll(ApiContext& ctx, const std::shared_ptr<StreamShared>& shared,
                                        net::HttpRequest& request) {
  auto caller = stream_caller(ctx, request);
  if (!caller) co_return error_response(caller.error());
  std::chrono::seconds timeout = ctx.options.poll_timeout;
  if (auto given = query_param(request.query, "timeout")) {
    char* end = nullptr;
    const long seconds = std::strtol(given->c_str(), &end, 10);
    if (given->empty() || *end != '\0' || seconds < 0 ||
        seconds > ctx.options.poll_max_timeout.count()) {
      co_return error_response(make_error(
          Errc::bad_request, "timeout must be whole seconds from 0 to " +
                                 std::to_string(ctx.options.poll_max_timeout.count())));
    }
    timeout = std::chrono::seconds(seconds);
  }
  auto cursor = query_param(request.query, "cursor");
  if (cursor && cursor->empty()) cursor.reset();
  const auto executor = co_await asio::this_coro::executor;
  auto session = std::make_shared<PollSession>(ctx, std::move(*caller), shared, std::move(cursor),
                                               executor, request.shard, request.conn_id);
  co_return co_await session->answer(timeout);
}

}  // namespace

void add_event_stream_routes(net::Router& router, ApiContext& ctx) {
  auto shared = std::make_shared<StreamShared>();
  router.stream("/events", [&ctx, shared](const net::HttpRequest& r) { return open_sse(ctx, shared, r); });
  router.add("GET", "/poll", [&ctx, shared](net::HttpRequest& r) { return poll(ctx, shared, r); });
  // Draining: held polls answer now with what they have, rather than hold the drain until their
  // timeout (the client polls again, elsewhere or after the restart, from the same cursor).
  ctx.on_drain.push_back([shared] {
    std::vector<std::shared_ptr<PollSession>> held;
    {
      std::lock_guard lock(shared->polls_mutex);
      for (const auto& [session, poll] : shared->polls) {
        if (auto p = poll.lock()) held.push_back(std::move(p));
      }
    }
    for (const auto& p : held) p->supersede();
  });
}

}  // namespace parley::api
