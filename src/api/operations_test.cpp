// The operations table without sockets: what each operation parses and refuses, what it
// authorizes, how it renders, how errors map, and how the REST binding turns a request into an
// operation's fields. A real ChatService on SQLite (as in chat_service_test.cpp); the coroutines
// run on a local io_context.
#include "api/operations.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <set>

#include "api/client_session.hpp"
#include "api/codec.hpp"
#include "api/hub.hpp"
#include "api/rest_routes.hpp"
#include "fakes/recording_bus.hpp"
#include "fakes/temp_dir.hpp"
#include "log/local/local_log.hpp"
#include "presence/local/local_presence.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace parley::api {
namespace {

namespace asio = boost::asio;
using testing::RecordingBus;
using testing::TempDir;

struct ApiFixture : ::testing::Test {
  TempDir dir;
  SqliteStore store{dir.file("p.db"), 2};
  ManualClock clock{1'790'000'000'000};
  SeededIdGenerator ids{7};
  LocalLog log{store, clock, ids, {}};
  RecordingBus bus;
  LocalPresence presence;
  auth::TokenSigner tokens{std::string(32, 's'), std::chrono::seconds(900), clock};
  ChatService service{store, store, log, bus, presence, clock, ids, tokens, {}};
  asio::thread_pool blocking{1};
  net::ShardPool shards{1};
  Hub hub{shards};
  ApiContext ctx{service, blocking, hub, {}, asio::make_strand(blocking.get_executor()), {}, {}};
  asio::io_context io;

  // Runs an operation as a transport without a session (REST) does, to its answer.
  OpResult run(std::string_view name, json::object args, const Caller* caller = nullptr) {
    const Operation* op = find_operation(name);
    EXPECT_NE(op, nullptr) << name;
    if (!op) return make_error(Errc::internal, "no such operation");
    OpCall call{ctx, caller, args};
    auto reply = op->run(call);
    if (auto* now = std::get_if<OpResult>(&reply)) return std::move(*now);
    auto* coroutine = std::get_if<asio::awaitable<OpResult>>(&reply);
    EXPECT_NE(coroutine, nullptr) << "a session-less call was answered Later";
    if (!coroutine) return make_error(Errc::internal, "Later without a session");
    std::optional<OpResult> result;
    auto wait = [&result](asio::awaitable<OpResult> answer) -> asio::awaitable<void> {
      result.emplace(co_await std::move(answer));
    };
    asio::co_spawn(io, wait(std::move(*coroutine)), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
    io.restart();
    while (!result) io.run_for(std::chrono::milliseconds(10));
    return std::move(*result);
  }

  Caller user(const std::string& name) {
    EXPECT_TRUE(run("register", {{"username", name}, {"password", "password-" + name}}).ok());
    auto login = run("login", {{"username", name}, {"password", "password-" + name}});
    EXPECT_TRUE(login) << login.error().message;
    auto caller = service.authenticate(std::string(login->at("token").as_string()));
    EXPECT_TRUE(caller);
    return *caller;
  }
};

Errc code_of(const OpResult& r) { return r ? Errc::internal : r.error().code; }

TEST(Operations, EachHasOneNameAndTheSocketOnesAreTheProtocolsOps) {
  std::set<std::string_view> names, on_sockets;
  for (const auto& op : operations()) {
    EXPECT_TRUE(names.insert(op.name).second) << op.name << " twice";
    EXPECT_NE(op.run, nullptr) << op.name;
    if (op.on_sockets) on_sockets.insert(op.name);
    EXPECT_EQ(find_operation(op.name), &op);
  }
  // docs/protocol.md, "WebSocket": the ops a socket may call (auth is the session's own).
  EXPECT_EQ(on_sockets, (std::set<std::string_view>{"send", "history", "sync", "delivered", "read",
                                                     "typing", "edit", "delete", "presence",
                                                     "ping", "encrypt", "decrypt"}));
  EXPECT_EQ(find_operation("auth"), nullptr);
  EXPECT_EQ(find_operation("no-such-op"), nullptr);
  EXPECT_FALSE(find_operation("register")->needs_caller);
  EXPECT_TRUE(find_operation("sync")->after_subscribed);
  EXPECT_EQ(find_operation("group_create")->rest_status, 201);
}

TEST_F(ApiFixture, ASendIsParsedAuthorizedAndRenderedAsItsAck) {
  const Caller alice = user("alice");
  user("bob");
  auto sent = run("send", {{"to", "bob"}, {"body", "hi"}, {"client_msg_id", "c1"}}, &alice);
  ASSERT_TRUE(sent) << sent.error().message;
  const auto& msg = sent->at("msg").as_object();
  EXPECT_EQ(msg.at("seq").as_int64(), 1);
  EXPECT_EQ(msg.at("from").as_string(), "alice");
  EXPECT_EQ(msg.at("body").as_string(), "hi");
  EXPECT_EQ(msg.at("client_msg_id").as_string(), "c1");
  // The same client_msg_id again: the original, not a second message.
  auto again = run("send", {{"to", "bob"}, {"body", "hi"}, {"client_msg_id", "c1"}}, &alice);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->at("msg").at("id"), msg.at("id"));
}

TEST_F(ApiFixture, BadFieldsAreRefusedBeforeAnythingIsCalled) {
  const Caller alice = user("alice");
  struct Case {
    std::string_view op;
    json::object args;
    std::string_view message;
  };
  const Case cases[] = {
      {"send", {{"to", "bob"}, {"body", 7}, {"client_msg_id", "c"}}, "'body' must be a string"},
      {"send", {{"to", "bob"}, {"body", "x"}}, "client_msg_id is required"},
      {"send", {{"body", "x"}, {"client_msg_id", "c"}}, "give exactly one of conv and to"},
      {"history", {{"conv", "c"}, {"before", "x"}}, "'before' must be an integer"},
      {"history", {}, "'conv' is required"},
      {"read", {{"conv", "c"}}, "'seq' is required"},
      {"edit", {{"conv", "c"}, {"seq", 1}}, "'body' is required"},
      {"presence", {{"user", 3}}, "'user' must be a string"},
      {"group_create", {{"name", "g"}, {"members", "bob"}}, "members must be an array"},
  };
  for (const auto& c : cases) {
    auto r = run(c.op, c.args, &alice);
    ASSERT_FALSE(r) << c.op;
    EXPECT_EQ(r.error().code, Errc::bad_request) << c.op;
    EXPECT_NE(r.error().message.find(c.message), std::string::npos)
        << c.op << ": " << r.error().message;
  }
  EXPECT_TRUE(store.conversations_of(alice.user_id)->empty());  // nothing was created
}

TEST_F(ApiFixture, OnlyMembersReadAConversationAndErrorsMapToStatusAndReply) {
  const Caller alice = user("alice");
  user("bob");
  const Caller carol = user("carol");
  auto sent = run("send", {{"to", "bob"}, {"body", "hi"}, {"client_msg_id", "c1"}}, &alice);
  ASSERT_TRUE(sent);
  const json::value conv = sent->at("msg").at("conv");

  auto history = run("history", {{"conv", conv}}, &alice);
  ASSERT_TRUE(history);
  EXPECT_EQ(history->at("conv"), conv);
  EXPECT_EQ(history->at("messages").as_array().size(), 1u);

  for (std::string_view op : {"history", "read", "edit", "delete"}) {
    auto refused = run(op, {{"conv", conv}, {"seq", 1}, {"body", "x"}}, &carol);
    ASSERT_FALSE(refused) << op;
    EXPECT_EQ(refused.error().code, Errc::not_member) << op;
  }
  // One mapping per transport, from the code: HTTP 403, and the socket's error object.
  auto refused = run("history", {{"conv", conv}}, &carol);
  EXPECT_EQ(http_status(code_of(refused)), 403);
  EXPECT_EQ(error_json(refused.error()).at("code").as_string(), "not_member");
  EXPECT_EQ(http_status(Errc::unauthenticated), 401);
  EXPECT_EQ(http_status(Errc::rate_limited), 429);
  EXPECT_EQ(http_status(Errc::internal), 500);
}

TEST_F(ApiFixture, ReceiptsAndEditsRenderTheirResults) {
  const Caller alice = user("alice");
  const Caller bob = user("bob");
  auto sent = run("send", {{"to", "bob"}, {"body", "hi"}, {"client_msg_id", "c1"}}, &alice);
  ASSERT_TRUE(sent);
  const json::value conv = sent->at("msg").at("conv");
  auto read = run("read", {{"conv", conv}, {"seq", 1}}, &bob);
  ASSERT_TRUE(read);
  EXPECT_EQ(*read, (json::object{{"conv", conv}, {"delivered_seq", 1}, {"read_seq", 1}}));
  auto edited = run("edit", {{"conv", conv}, {"seq", 1}, {"body", "hello"}}, &alice);
  ASSERT_TRUE(edited);
  EXPECT_EQ(edited->at("msg").at("body").as_string(), "hello");
  EXPECT_EQ(edited->at("msg").at("rev").as_int64(), 1);
  auto deleted = run("delete", {{"conv", conv}, {"seq", 1}}, &alice);
  ASSERT_TRUE(deleted);
  EXPECT_TRUE(deleted->at("msg").at("deleted").as_bool());
  EXPECT_TRUE(deleted->at("msg").at("body").is_null());
}

// ---- the REST binding

const RestRoute kSendRoute{"POST", "/chat/send", "send",
                           {RestField{RestField::From::body, "recipient", "to", {}, true},
                            RestField{RestField::From::body, "message", "body", {}, true},
                            RestField{RestField::From::body, "client_msg_id"}},
                           true, "msg", true};

TEST(RestBinding, BodyFieldsAreRenamedAndOnlyTheRoutesFieldsPass) {
  net::HttpRequest req;
  req.body = R"({"recipient":"bob","message":"hi","client_msg_id":"c1","conv":"other"})";
  auto args = rest_arguments(kSendRoute, req);
  ASSERT_TRUE(args) << args.error().message;
  EXPECT_EQ(*args, (json::object{{"to", "bob"}, {"body", "hi"}, {"client_msg_id", "c1"}}));
}

TEST(RestBinding, ASendWithoutClientMsgIdGetsAFreshOneEachTime) {
  net::HttpRequest req;
  req.body = R"({"recipient":"bob","message":"hi"})";
  auto first = rest_arguments(kSendRoute, req);
  auto second = rest_arguments(kSendRoute, req);
  ASSERT_TRUE(first && second);
  EXPECT_FALSE(first->at("client_msg_id").as_string().empty());
  EXPECT_NE(first->at("client_msg_id"), second->at("client_msg_id"));
}

TEST(RestBinding, MissingAndMalformedInputIsRefusedInRestTerms) {
  net::HttpRequest req;
  EXPECT_EQ(rest_arguments(kSendRoute, req).error().message, "expected a JSON object body");
  req.body = "[1]";
  EXPECT_EQ(rest_arguments(kSendRoute, req).error().code, Errc::bad_request);
  req.body = R"({"message":"hi"})";
  EXPECT_EQ(rest_arguments(kSendRoute, req).error().message, "'recipient' is required");
}

TEST(RestBinding, PathSegmentsAndQueryParametersBecomeTypedFields) {
  const RestRoute history{"GET", "/conversations/{}/messages", "history",
                          {RestField{RestField::From::path, "conv", {}, {}, true},
                           RestField{RestField::From::query, "before", {},
                                     RestField::Kind::integer},
                           RestField{RestField::From::query, "after", "changed_after",
                                     RestField::Kind::integer}}};
  net::HttpRequest req;
  req.params = {"c-1"};
  req.query = "before=10&after=3&other=1";
  auto args = rest_arguments(history, req);
  ASSERT_TRUE(args) << args.error().message;
  EXPECT_EQ(*args, (json::object{{"conv", "c-1"}, {"before", 10}, {"changed_after", 3}}));
  req.query = "before=ten";
  EXPECT_EQ(rest_arguments(history, req).error().message, "before must be an integer");

  const RestRoute edit{"PATCH", "/conversations/{}/messages/{}", "edit",
                       {RestField{RestField::From::path, "conv", {}, {}, true},
                        RestField{RestField::From::path, "seq", {},
                                  RestField::Kind::positive_integer, true}}};
  req = {};
  req.params = {"c-1", "0"};
  EXPECT_EQ(rest_arguments(edit, req).error().message, "seq must be a positive integer");
  req.params = {"c-1", "12"};
  EXPECT_EQ(rest_arguments(edit, req)->at("seq").as_int64(), 12);
}

// ---- a live session: pipelined sends and the in-flight cap

// A transport that records its replies; on_shard runs on the test's io_context.
class RecordingSession final : public ClientSession {
 public:
  RecordingSession(ApiContext& ctx, Caller caller, asio::io_context& io)
      : ClientSession(ctx, std::move(caller)), io_(io) {}
  std::vector<std::pair<json::value, OpResult>> replies;

 private:
  void send_reply(const json::value& id, OpResult result) override {
    // Out of the arena the answer was built in: a new OpResult, since assigning into `result`
    // would keep the arena's storage (json::object's assignment keeps the target's).
    OpResult kept = result ? OpResult(json::object(*result, json::storage_ptr())) : result;
    replies.emplace_back(json::value(id, json::storage_ptr()), std::move(kept));
  }
  void send_event(const EventPtr&) override {}
  void end_unauthenticated(std::string_view) override {}
  void on_shard(std::function<void()> fn) override { asio::post(io_, std::move(fn)); }
  asio::any_io_executor executor() override { return io_.get_executor(); }
  std::size_t shard() const override { return 0; }
  std::string describe() const override { return "test"; }
  asio::io_context& io_;
};

// Runs the session's shard until it holds n replies. restart(): a run that ran out of work leaves
// the io_context stopped, and a stopped one runs nothing.
void await_replies(ApiFixture& f, const RecordingSession& session, std::size_t n) {
  while (session.replies.size() < n) {
    f.io.restart();
    f.io.run_for(std::chrono::milliseconds(10));
  }
}

TEST_F(ApiFixture, ASessionPipelinesSendsUpToItsInflightCap) {
  const Caller alice = user("alice");
  user("bob");
  ctx.options.max_inflight_sends = 2;
  auto session = std::make_shared<RecordingSession>(ctx, alice, io);
  auto send = [&](int id) {
    json::object args{{"to", "bob"}, {"body", "m"}, {"client_msg_id", "c" + std::to_string(id)}};
    return session->request("send", json::value(id), args);
  };
  // The direct conversation exists after the first send (the others are prepared from memory).
  ASSERT_TRUE(run("send", {{"to", "bob"}, {"body", "m"}, {"client_msg_id", "c0"}}, &alice));
  EXPECT_FALSE(send(1));  // answered Later: nothing for the transport to run
  EXPECT_FALSE(send(2));
  EXPECT_FALSE(send(3));  // over the cap: refused now
  ASSERT_EQ(session->replies.size(), 1u);
  EXPECT_EQ(session->replies[0].first, json::value(3));
  EXPECT_EQ(code_of(session->replies[0].second), Errc::rate_limited);
  // The acks come back on the session's shard, in order, each with its message.
  await_replies(*this, *session, 3);
  EXPECT_EQ(session->replies[1].first, json::value(1));
  EXPECT_EQ(session->replies[1].second->at("msg").at("seq").as_int64(), 2);
  EXPECT_EQ(session->replies[2].second->at("msg").at("seq").as_int64(), 3);
  EXPECT_FALSE(send(4));  // slots are free again
  await_replies(*this, *session, 4);
  EXPECT_TRUE(session->replies[3].second);
  session->closed();
}

TEST_F(ApiFixture, ASessionRefusesRestOnlyAndUnknownOperations) {
  const Caller alice = user("alice");
  auto session = std::make_shared<RecordingSession>(ctx, alice, io);
  json::object args;
  EXPECT_FALSE(session->request("register", json::value(1), args));  // REST only
  EXPECT_FALSE(session->request("fly", json::value(2), args));
  ASSERT_EQ(session->replies.size(), 2u);
  EXPECT_EQ(code_of(session->replies[0].second), Errc::unknown_op);
  EXPECT_EQ(session->replies[1].second.error().message, "unknown op 'fly'");
  session->closed();
}

// ---- typing limits

TEST(TypingLimiter, OneEventPerConversationPerIntervalInAtMost64Conversations) {
  TypingLimiter limiter(std::chrono::milliseconds(1000));
  const auto t0 = TypingLimiter::Clock::now();
  using V = TypingLimiter::Verdict;
  EXPECT_EQ(limiter.check("a", t0), V::send);
  limiter.sent("a", t0);
  EXPECT_EQ(limiter.check("a", t0 + std::chrono::milliseconds(999)), V::throttled);
  EXPECT_EQ(limiter.check("a", t0 + std::chrono::milliseconds(1000)), V::send);
  for (int i = 1; i < 64; ++i) limiter.sent("c" + std::to_string(i), t0);
  EXPECT_EQ(limiter.check("new", t0 + std::chrono::milliseconds(10)), V::too_many_conversations);
  // Once the others no longer throttle, they are forgotten and a new one may type.
  limiter.sent("a", t0 + std::chrono::milliseconds(2000));
  EXPECT_LT(limiter.tracked(), 64u);
  EXPECT_EQ(limiter.check("new", t0 + std::chrono::milliseconds(2000)), V::send);
  limiter.forget("a");
  EXPECT_EQ(limiter.check("a", t0 + std::chrono::milliseconds(2001)), V::send);
}

}  // namespace
}  // namespace parley::api
