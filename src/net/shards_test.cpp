#include "net/shards.hpp"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <thread>
#include <vector>

namespace parley::net {
namespace {

TEST(Mailbox, TasksPostedBeforeTheShardRunsShareOneHandler) {
  boost::asio::io_context shard(1);
  Mailbox mailbox(shard);
  std::vector<int> ran;
  for (int i = 0; i < 100; ++i) mailbox.post([&ran, i] { ran.push_back(i); });
  // One handler for all hundred: the shard wakes once for the whole burst.
  EXPECT_EQ(shard.run_one(), 1u);
  ASSERT_EQ(ran.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(ran[i], i);
  EXPECT_EQ(shard.poll(), 0u);
}

TEST(Mailbox, ADirectPostMadeAfterATaskRunsAfterIt) {
  boost::asio::io_context shard(1);
  Mailbox mailbox(shard);
  std::vector<int> ran;
  mailbox.post([&] { ran.push_back(1); });
  boost::asio::post(shard, [&] { ran.push_back(2); });
  mailbox.post([&] { ran.push_back(3); });
  // Run the first batch, then post more while the shard is between handlers.
  shard.run_one();
  mailbox.post([&] { ran.push_back(4); });
  boost::asio::post(shard, [&] { ran.push_back(5); });
  shard.poll();
  // 3 joined the batch already queued ahead of 2: the mailbox keeps its own tasks' order, and a
  // direct post made after a task (5 after 4) runs after it.
  EXPECT_EQ(ran, (std::vector<int>{1, 3, 2, 4, 5}));
}

TEST(Mailbox, TasksFromManyThreadsAllRunInEachThreadsOrder) {
  boost::asio::io_context shard(1);
  auto guard = boost::asio::make_work_guard(shard);
  Mailbox mailbox(shard);
  std::thread runner([&] { shard.run(); });
  constexpr int kThreads = 4, kEach = 20000;
  std::vector<std::vector<int>> seen(kThreads);  // touched only on the shard
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) mailbox.post([&seen, t, i] { seen[t].push_back(i); });
    });
  }
  for (auto& p : posters) p.join();
  guard.reset();
  runner.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(seen[t].size(), static_cast<std::size_t>(kEach));
    for (int i = 0; i < kEach; ++i) ASSERT_EQ(seen[t][i], i);
  }
}

}  // namespace
}  // namespace parley::net
