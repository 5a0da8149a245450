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
  nowhere.heartbeat({7});  // no effect, no error
}

}  // namespace
}  // namespace parley
