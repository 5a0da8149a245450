#include "bus/redis/redis_bus.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <future>
#include <mutex>
#include <thread>

namespace parley {
namespace {

using namespace chat;

TEST(RedisUrl, ParsesHostAndPortAndRefusesTheRest) {
  auto o = parse_redis_url("redis://10.0.0.5:7000");
  EXPECT_EQ(o.host, "10.0.0.5");
  EXPECT_EQ(o.port, 7000);
  EXPECT_EQ(parse_redis_url("redis://cache").port, 6379);
  EXPECT_THROW(parse_redis_url("http://cache:6379"), std::invalid_argument);
  EXPECT_THROW(parse_redis_url("redis://cache:http"), std::invalid_argument);
  EXPECT_THROW(parse_redis_url("redis://:6379"), std::invalid_argument);
}

// Collects what a bus hands to its sink.
struct Inbox {
  std::mutex mutex;
  std::condition_variable arrived;
  std::vector<EnvelopePtr> got;
  // Runs in the sink, on the bus's thread, as each envelope arrives (set before it can).
  std::function<void(const EnvelopePtr&)> on_arrival;
  Bus::Sink sink() {
    return [this](const EnvelopePtr& e) {
      if (on_arrival) on_arrival(e);
      std::lock_guard lock(mutex);
      got.push_back(e);
      arrived.notify_all();
    };
  }
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock(mutex);
    return arrived.wait_for(lock, timeout, [&] { return got.size() >= n; });
  }
  bool empty() {
    std::lock_guard lock(mutex);
    return got.empty();
  }
};

std::unique_ptr<RedisBus> make_bus(
    const std::string& node, Inbox& inbox,
    std::function<Result<std::vector<ConvId>>(UserId)> groups_of = nullptr) {
  RedisBusOptions o;
  o.address = parse_redis_url(std::getenv("PARLEY_TEST_REDIS"));
  o.node_id = node;
  o.groups_of = std::move(groups_of);
  o.render = [](const Event& e) {
    return std::holds_alternative<TypingEvent>(e) ? std::string("{\"ev\":\"typing\"}") : "{}";
  };
  auto bus = std::make_unique<RedisBus>(std::move(o));
  bus->set_sink(inbox.sink());
  return bus;
}

// Connecting and subscribing are asynchronous, and SUBSCRIBE and PUBLISH travel on different
// connections: publishes until `to` has received something (the first ones may go nowhere).
bool publish_until_received(RedisBus& from, const EnvelopePtr& env, Inbox& to) {
  for (int i = 0; i < 50 && to.empty(); ++i) {
    from.publish(env);
    to.wait_for(1, std::chrono::milliseconds(100));
  }
  return to.wait_for(1);
}

TEST(RedisBus, DeliversToTheNodeWatchingTheRecipientOnceAndLocallyAtOnce) {
  if (!std::getenv("PARLEY_TEST_REDIS")) GTEST_SKIP() << "PARLEY_TEST_REDIS is not set";
  Inbox on_a, on_b;
  auto a = make_bus("node-a", on_a);
  auto b = make_bus("node-b", on_b);
  b->watch(42, nullptr);
  auto env = std::make_shared<Envelope>();
  env->conv = "c1";
  env->recipients = {42};
  env->event = TypingEvent{"c1", "alice"};
  ASSERT_TRUE(publish_until_received(*a, env, on_b));
  std::lock_guard lock(on_b.mutex);
  const auto& relayed = std::get<RelayedEvent>(on_b.got[0]->event);
  EXPECT_EQ(relayed.json, "{\"ev\":\"typing\"}");
  EXPECT_EQ(on_b.got[0]->recipients, std::vector<UserId>{42});
  EXPECT_EQ(on_b.got[0]->conv, "c1");
  // Node a got its own event directly, never back through Redis (it watches nobody).
  {
    std::lock_guard lock_a(on_a.mutex);
    for (const auto& e : on_a.got) EXPECT_TRUE(std::holds_alternative<TypingEvent>(e->event));
  }
}

TEST(RedisBus, ARelayedMessageEventCarriesItsPositionTyped) {
  if (!std::getenv("PARLEY_TEST_REDIS")) GTEST_SKIP() << "PARLEY_TEST_REDIS is not set";
  Inbox on_a, on_b;
  auto a = make_bus("node-a", on_a);
  auto b = make_bus("node-b", on_b);
  b->watch(7, nullptr);
  b->watch(8, nullptr);
  Message m;
  m.conv = "d:7:8";
  m.seq = 12;
  m.rev = 3;
  auto env = std::make_shared<Envelope>();
  env->conv = m.conv;
  env->recipients = {7};
  env->event = MessageUpdatedEvent{m};
  ASSERT_TRUE(publish_until_received(*a, env, on_b));
  auto typing = std::make_shared<Envelope>();
  typing->conv = m.conv;
  typing->recipients = {8};
  typing->event = TypingEvent{m.conv, "alice"};
  a->publish(typing);
  const auto is_typing = [](const EnvelopePtr& e) {
    return std::get<RelayedEvent>(e->event).json == "{\"ev\":\"typing\"}";
  };
  std::unique_lock lock(on_b.mutex);
  ASSERT_TRUE(on_b.arrived.wait_for(lock, std::chrono::seconds(5), [&] {
    return std::any_of(on_b.got.begin(), on_b.got.end(), is_typing);
  }));
  // The receiving node reads where the event stands without parsing its client JSON (an SSE
  // stream's cursor needs it), and only a message event has one.
  for (const auto& e : on_b.got) {
    const auto& position = std::get<RelayedEvent>(e->event).position;
    if (is_typing(e)) {
      EXPECT_FALSE(position.has_value());
      continue;
    }
    ASSERT_TRUE(position.has_value());
    EXPECT_EQ(position->conv, "d:7:8");
    EXPECT_EQ(position->seq, 12);
    EXPECT_EQ(position->rev, 3);
    EXPECT_TRUE(position->updated);
  }
}

TEST(RedisBus, WatchSaysWhenTheSubscriptionHoldsSoThatOnePublishIsEnough) {
  if (!std::getenv("PARLEY_TEST_REDIS")) GTEST_SKIP() << "PARLEY_TEST_REDIS is not set";
  Inbox on_a, on_b;
  auto a = make_bus("node-a3", on_a);
  auto b = make_bus("node-b3", on_b);
  // Until node b's subscriber is connected, watch() cannot wait for Redis: get there first.
  b->watch(50, nullptr);
  auto warm_up = std::make_shared<Envelope>();
  warm_up->recipients = {50};
  warm_up->event = TypingEvent{"c1", "alice"};
  ASSERT_TRUE(publish_until_received(*a, warm_up, on_b));

  std::promise<void> subscribed;
  b->watch(51, [&] { subscribed.set_value(); });
  ASSERT_EQ(subscribed.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  auto env = std::make_shared<Envelope>();
  env->recipients = {51};
  env->event = TypingEvent{"c2", "bob"};
  a->publish(env);  // once
  std::unique_lock lock(on_b.mutex);
  EXPECT_TRUE(on_b.arrived.wait_for(lock, std::chrono::seconds(5), [&] {
    return std::any_of(on_b.got.begin(), on_b.got.end(),
                       [](const auto& e) { return e->recipients == std::vector<UserId>{51}; });
  }));
}

// How many connections are subscribed to a channel, as Redis sees it.
long long subscribers(const std::string& channel) {
  RedisConnection admin = connect_redis(parse_redis_url(std::getenv("PARLEY_TEST_REDIS")));
  if (!admin) return -1;
  RedisReply r(static_cast<redisReply*>(
      redisCommand(admin.get(), "PUBSUB NUMSUB %b", channel.data(), channel.size())));
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return -1;
  return r->element[1]->integer;
}

// Until `channel` has `n` subscribers (an unsubscription is not answered to anyone waiting).
bool wait_for_subscribers(const std::string& channel, long long n) {
  for (int i = 0; i < 250; ++i) {
    if (subscribers(channel) == n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// Waits for watch()'s ready (and, first, for the bus to be connected: until then, watch() is
// ready at once, as when Redis is away).
bool watch_and_wait(RedisBus& bus, const std::string& node, UserId user) {
  if (!wait_for_subscribers("parley:node:" + node, 1)) return false;
  std::promise<void> ready;
  bus.watch(user, [&] { ready.set_value(); });
  return ready.get_future().wait_for(std::chrono::seconds(5)) == std::future_status::ready;
}

EnvelopePtr group_event(const ConvId& group, std::vector<UserId> recipients) {
  auto env = std::make_shared<Envelope>();
  env->conv = group;
  env->group = true;
  env->recipients = std::move(recipients);
  env->event = TypingEvent{group, "alice"};
  return env;
}

EnvelopePtr membership_event(const ConvId& group, const std::string& change, UserId member,
                             std::vector<UserId> recipients) {
  auto env = std::make_shared<Envelope>();
  env->conv = group;
  env->group = true;
  env->recipients = std::move(recipients);
  env->event = ConversationEvent{group, change, "u" + std::to_string(member), "alice", member};
  return env;
}

// Until the sink has an event of `conv` for exactly these recipients (a cluster-wide notice of
// the same conversation has none).
bool received_for(Inbox& inbox, const ConvId& conv, const std::vector<UserId>& recipients) {
  std::unique_lock lock(inbox.mutex);
  return inbox.arrived.wait_for(lock, std::chrono::seconds(5), [&] {
    return std::any_of(inbox.got.begin(), inbox.got.end(), [&](const auto& e) {
      return e->conv == conv && e->recipients == recipients;
    });
  });
}

TEST(RedisBus, ANodeSubscribesToTheGroupsOfItsUsersOnlyAndOnlyWhileTheyAreThere) {
  if (!std::getenv("PARLEY_TEST_REDIS")) GTEST_SKIP() << "PARLEY_TEST_REDIS is not set";
  const std::string g1 = "it-g1-" + std::to_string(::getpid()), g2 = "it-g2-" + std::to_string(::getpid());
  Inbox on_a, on_b;
  auto a = make_bus("node-a4", on_a);
  const std::string b_node = "node-b4";
  auto b = make_bus(b_node, on_b, [&](UserId user) -> Result<std::vector<ConvId>> {
    return user == 60 ? std::vector<ConvId>{g1} : std::vector<ConvId>{};
  });
  ASSERT_TRUE(watch_and_wait(*b, b_node, 60));
  // Ready means the user's groups are subscribed: one publish reaches the node.
  EXPECT_EQ(subscribers("parley:group:" + g1), 1);
  EXPECT_EQ(subscribers("parley:group:" + g2), 0);  // nobody here is in g2
  a->publish(group_event(g2, {61}));
  a->publish(group_event(g1, {60, 61}));  // once, one PUBLISH for every member
  ASSERT_TRUE(received_for(on_b, g1, {60, 61}));
  {
    std::lock_guard lock(on_b.mutex);
    ASSERT_EQ(on_b.got.size(), 1u);  // g2's event, published first, never came
    EXPECT_EQ(on_b.got[0]->recipients, (std::vector<UserId>{60, 61}));
    EXPECT_TRUE(on_b.got[0]->group);
  }
  // A second session of the user shares the subscription; the last one to go ends it.
  ASSERT_TRUE(watch_and_wait(*b, b_node, 60));
  b->unwatch(60);
  EXPECT_EQ(subscribers("parley:group:" + g1), 1);
  b->unwatch(60);
  EXPECT_TRUE(wait_for_subscribers("parley:group:" + g1, 0));
  EXPECT_TRUE(wait_for_subscribers("parley:user:60", 0));
}

TEST(RedisBus, AMemberAddedOnAnotherNodeHearsOfItOnceTheGroupReachesItsNode) {
  if (!std::getenv("PARLEY_TEST_REDIS")) GTEST_SKIP() << "PARLEY_TEST_REDIS is not set";
  const std::string g = "it-g3-" + std::to_string(::getpid());
  Inbox on_a, on_b;
  std::atomic<long long> subscribed_when_told{-1};  // outlives the buses, whose sink sets it
  auto a = make_bus("node-a5", on_a);
  const std::string b_node = "node-b5";
  auto b = make_bus(b_node, on_b);
  ASSERT_TRUE(watch_and_wait(*b, b_node, 70));
  EXPECT_EQ(subscribers("parley:group:" + g), 0);
  // Asked from inside the sink, which holds up node b's subscriber thread: had the change been
  // delivered before Redis confirmed the group's SUBSCRIBE, it would not be there yet.
  on_b.on_arrival = [&](const EnvelopePtr& e) {
    if (e->recipients == std::vector<UserId>{70}) subscribed_when_told = subscribers("parley:group:" + g);
  };
  a->publish(membership_event(g, "added", 70, {70, 71}));
  ASSERT_TRUE(received_for(on_b, g, {70}));  // on user 70's channel
  EXPECT_EQ(subscribed_when_told.load(), 1);
  {
    std::lock_guard lock(on_b.mutex);
    on_b.got.clear();
  }
  a->publish(group_event(g, {70, 71}));  // once is enough
  ASSERT_TRUE(received_for(on_b, g, {70, 71}));

  // Removed: node b has nobody in the group any more, and stops listening to it.
  a->publish(membership_event(g, "removed", 70, {70, 71}));
  EXPECT_TRUE(wait_for_subscribers("parley:group:" + g, 0));
  b->unwatch(70);
}

TEST(RedisBus, AMemberAddedOnThisNodeJoinsTheGroupHereToo) {
  if (!std::getenv("PARLEY_TEST_REDIS")) GTEST_SKIP() << "PARLEY_TEST_REDIS is not set";
  const std::string g = "it-g4-" + std::to_string(::getpid());
  Inbox on_a, on_b;
  std::atomic<long long> subscribed_when_told{-1};  // outlives the buses, whose sink sets it
  auto a = make_bus("node-a6", on_a);
  const std::string b_node = "node-b6";
  auto b = make_bus(b_node, on_b);
  ASSERT_TRUE(watch_and_wait(*b, b_node, 90));
  on_b.on_arrival = [&](const EnvelopePtr&) { subscribed_when_told = subscribers("parley:group:" + g); };
  b->publish(membership_event(g, "created", 0, {89, 90}));  // made on node b, for its user 90
  ASSERT_TRUE(received_for(on_b, g, {89, 90}));
  EXPECT_EQ(subscribed_when_told.load(), 1);  // delivered locally once the group reaches node b
  {
    std::lock_guard lock(on_b.mutex);
    on_b.got.clear();
  }
  a->publish(group_event(g, {89, 90}));
  EXPECT_TRUE(received_for(on_b, g, {89, 90}));
}

TEST(RedisBus, AStoreThatCannotTellTheGroupsIsAskedAgainAndTheSessionWaits) {
  if (!std::getenv("PARLEY_TEST_REDIS")) GTEST_SKIP() << "PARLEY_TEST_REDIS is not set";
  const std::string g = "it-g5-" + std::to_string(::getpid());
  std::atomic<int> asked{0};
  Inbox on_b;
  const std::string b_node = "node-b7";
  auto b = make_bus(b_node, on_b, [&](UserId) -> Result<std::vector<ConvId>> {
    if (++asked < 3) return make_error(Errc::unavailable, "store down");
    return std::vector<ConvId>{g};
  });
  ASSERT_TRUE(watch_and_wait(*b, b_node, 95));
  EXPECT_EQ(asked.load(), 3);
  EXPECT_EQ(subscribers("parley:group:" + g), 1);
  b->unwatch(95);
}

TEST(RedisBus, ClusterNoticesReachEveryNode) {
  if (!std::getenv("PARLEY_TEST_REDIS")) GTEST_SKIP() << "PARLEY_TEST_REDIS is not set";
  Inbox on_a, on_b;
  auto a = make_bus("node-a2", on_a);
  auto b = make_bus("node-b2", on_b);
  auto env = std::make_shared<Envelope>();
  env->event = SessionRevokedEvent{77};  // no recipient watched anywhere: the notice still goes
  ASSERT_TRUE(publish_until_received(*a, env, on_b));
  std::lock_guard lock(on_b.mutex);
  EXPECT_EQ(std::get<RelayedEvent>(on_b.got[0]->event).revoked_session, 77);
}

}  // namespace
}  // namespace parley
