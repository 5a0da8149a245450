#include "bus/redis/redis_bus.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <future>
#include <mutex>

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
  Bus::Sink sink() {
    return [this](const EnvelopePtr& e) {
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

std::unique_ptr<RedisBus> make_bus(const std::string& node, Inbox& inbox) {
  RedisBusOptions o;
  o.address = parse_redis_url(std::getenv("PARLEY_TEST_REDIS"));
  o.node_id = node;
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
