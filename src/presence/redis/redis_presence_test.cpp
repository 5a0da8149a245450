// RedisPresence against the real Redis of PARLEY_TEST_REDIS (make test starts one): two nodes'
// views of the same users.
#include "presence/redis/redis_presence.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

namespace parley {
namespace {

using namespace std::chrono_literals;

class RedisPresenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* url = std::getenv("PARLEY_TEST_REDIS");
    if (!url) GTEST_SKIP() << "PARLEY_TEST_REDIS is not set";
    address_ = parse_redis_url(url);
  }
  RedisPresence node(const std::string& id, std::chrono::milliseconds ttl = 30s) {
    return RedisPresence(RedisPresenceOptions{address_, id, ttl});
  }
  // A user id no other test run has used (the keys outlive the test).
  static chat::UserId fresh_user() {
    static std::mt19937_64 random{std::random_device{}()};
    return static_cast<chat::UserId>(random() >> 2);
  }
  RedisAddress address_;
};

TEST_F(RedisPresenceTest, OnlyTheFirstArrivalAndTheLastDepartureAreAnnounced) {
  auto a = node("node-a"), b = node("node-b");
  const auto user = fresh_user();
  EXPECT_TRUE(a.arrived(user));    // nobody had them: announce online
  EXPECT_FALSE(b.arrived(user));   // a has them
  EXPECT_TRUE(b.elsewhere(user).online);
  EXPECT_FALSE(a.left(user, 1000));  // b still has them
  EXPECT_FALSE(b.elsewhere(user).online);
  EXPECT_TRUE(a.elsewhere(user).online);
  EXPECT_TRUE(b.left(user, 900));  // the last one: announce offline
  EXPECT_FALSE(a.elsewhere(user).online);
  EXPECT_EQ(a.elsewhere(user).last_seen, 1000);  // the later of the two times
  EXPECT_FALSE(a.elsewhere(fresh_user()).last_seen.has_value());
}

TEST_F(RedisPresenceTest, ANodeThatStopsHeartbeatingTakesItsUsersWithIt) {
  auto dying = node("node-dying", 300ms), survivor = node("node-survivor", 300ms);
  const auto kept = fresh_user(), dropped = fresh_user();
  ASSERT_TRUE(dying.arrived(kept));
  ASSERT_TRUE(dying.arrived(dropped));
  // Three heartbeat periods, refreshing one of the two users: the entries' lifetime passing is
  // what is tested, so time has to pass.
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(150ms);
    dying.heartbeat({kept});
  }
  EXPECT_TRUE(survivor.elsewhere(kept).online);
  EXPECT_FALSE(survivor.elsewhere(dropped).online);  // expired: its node stopped refreshing it
  EXPECT_TRUE(survivor.arrived(dropped));            // so the next arrival is announced
}

TEST_F(RedisPresenceTest, TheUsersOfADeadNodeGoToExactlyOneOtherNodeToBeAnnouncedOffline) {
  // Node ids of this run only: parley:nodes outlives the test, and nodes of earlier runs are
  // dead — a heartbeat may hand their users over too, which the checks below leave aside.
  const auto run = std::to_string(fresh_user());
  auto dying = node("dying-" + run, 300ms), a = node("a-" + run, 300ms), b = node("b-" + run, 300ms);
  const auto alone = fresh_user(), shared = fresh_user();
  const auto heard_at = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_TRUE(dying.heartbeat({}).empty());  // the node is known, then never heard of again
  ASSERT_TRUE(dying.arrived(alone));
  ASSERT_TRUE(dying.arrived(shared));
  ASSERT_FALSE(a.arrived(shared));  // on node a too

  // a and b keep heartbeating: past the dying node's time, one of them takes it over. Time has
  // to pass for that, as in the test above.
  std::vector<Abandoned> handed;
  int handovers = 0;
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(100ms);
    for (auto got : {a.heartbeat({shared}), b.heartbeat({})}) {
      std::erase_if(got, [&](const Abandoned& x) { return x.user != alone && x.user != shared; });
      handovers += !got.empty();
      handed.insert(handed.end(), got.begin(), got.end());
    }
  }
  ASSERT_EQ(handed.size(), 1u);  // alone, once; shared is still on node a
  EXPECT_EQ(handovers, 1);
  EXPECT_EQ(handed[0].user, alone);
  EXPECT_NEAR(static_cast<double>(handed[0].last_seen), static_cast<double>(heard_at), 250.0);
  EXPECT_FALSE(b.elsewhere(alone).online);
  EXPECT_EQ(b.elsewhere(alone).last_seen, handed[0].last_seen);
  EXPECT_TRUE(b.elsewhere(shared).online);
}

TEST_F(RedisPresenceTest, ScriptsFlushedFromRedisAreLoadedAgain) {
  auto a = node("node-flushed"), b = node("node-other");
  ASSERT_TRUE(a.arrived(fresh_user()));  // a has loaded its scripts
  auto admin = connect_redis(address_);
  ASSERT_TRUE(admin);
  freeReplyObject(redisCommand(admin.get(), "SCRIPT FLUSH"));
  const auto user = fresh_user();
  a.arrived(user);               // NOSCRIPT: a drops the connection, reloads on the next call
  ASSERT_TRUE(a.arrived(user));  // written this time
  EXPECT_FALSE(b.arrived(user));
}

TEST(RedisPresence, WithoutRedisEveryNodeAnswersForItself) {
  RedisPresence nowhere(RedisPresenceOptions{RedisAddress{"127.0.0.1", 1}, "node-x"});
  EXPECT_TRUE(nowhere.arrived(7));
  EXPECT_TRUE(nowhere.left(7, 1000));
  EXPECT_FALSE(nowhere.elsewhere(7).online);
  EXPECT_TRUE(nowhere.heartbeat({7}).empty());  // no effect, no error
}

}  // namespace
}  // namespace parley
