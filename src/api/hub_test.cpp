#include "api/hub.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace parley::api {
namespace {

// Records what reached it; the shards are never started: the test polls each one by hand.
class RecordingSink final : public EventSink {
 public:
  void deliver(const EventPtr& event) override {
    typing_of.push_back(std::get<chat::TypingEvent>(event->event()).user);
  }
  std::vector<std::string> typing_of;
};

chat::EnvelopePtr typing_to(std::vector<chat::UserId> recipients, std::string from) {
  auto e = std::make_shared<chat::Envelope>();
  e->conv = "c1";
  e->recipients = std::move(recipients);
  e->event = chat::TypingEvent{"c1", std::move(from)};
  return e;
}

class HubTest : public ::testing::Test {
 protected:
  // The handlers each shard ran: a shard with nothing to deliver must not have been posted to.
  std::vector<std::size_t> run_shards() {
    std::vector<std::size_t> ran;
    for (std::size_t i = 0; i < shards.size(); ++i) ran.push_back(shards.context(i).poll());
    return ran;
  }
  std::shared_ptr<RecordingSink> attach(std::size_t shard, chat::UserId user) {
    auto sink = std::make_shared<RecordingSink>();
    hub.attach(shard, user, sink, {});
    return sink;
  }

  net::ShardPool shards{3};
  Hub hub{shards};
};

TEST_F(HubTest, AnEventWakesOnlyTheShardsWithSessionsOfItsRecipients) {
  auto alice = attach(0, 1);
  auto bob = attach(2, 2);
  auto bob_too = attach(2, 2);  // a second session of bob's on the same shard

  hub.deliver(typing_to({1}, "x"));
  EXPECT_EQ(run_shards(), (std::vector<std::size_t>{1, 0, 0}));
  hub.deliver(typing_to({1, 2, 3}, "y"));  // 3 has no session anywhere
  EXPECT_EQ(run_shards(), (std::vector<std::size_t>{1, 0, 1}));
  hub.deliver(typing_to({3}, "z"));
  EXPECT_EQ(run_shards(), (std::vector<std::size_t>{0, 0, 0}));

  EXPECT_EQ(alice->typing_of, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(bob->typing_of, (std::vector<std::string>{"y"}));
  EXPECT_EQ(bob_too->typing_of, (std::vector<std::string>{"y"}));
}

TEST_F(HubTest, AShardIsPostedToWhileAnyOfTheUsersSessionsIsThere) {
  auto first = attach(1, 7);
  auto second = attach(1, 7);
  hub.detach(1, 7, first.get());
  hub.deliver(typing_to({7}, "still"));  // one session of 7's is left on shard 1
  EXPECT_EQ(run_shards(), (std::vector<std::size_t>{0, 1, 0}));
  hub.detach(1, 7, second.get());
  hub.deliver(typing_to({7}, "gone"));
  EXPECT_EQ(run_shards(), (std::vector<std::size_t>{0, 0, 0}));
  EXPECT_EQ(second->typing_of, (std::vector<std::string>{"still"}));
  EXPECT_EQ(hub.sessions(), 0u);

  // Attached again, on another shard: events published from then on reach it.
  auto again = attach(0, 7);
  hub.deliver(typing_to({7}, "back"));
  EXPECT_EQ(run_shards(), (std::vector<std::size_t>{1, 0, 0}));
  EXPECT_EQ(again->typing_of, (std::vector<std::string>{"back"}));
}

TEST_F(HubTest, ANoticeToAllReachesEveryShard) {
  auto a = attach(0, 1);
  auto c = attach(2, 3);
  hub.deliver_to_all(typing_to({}, "all"));
  EXPECT_EQ(run_shards(), (std::vector<std::size_t>{1, 1, 1}));
  EXPECT_EQ(a->typing_of, (std::vector<std::string>{"all"}));
  EXPECT_EQ(c->typing_of, (std::vector<std::string>{"all"}));
}

std::atomic<int> renders{0};
std::string bracketed(std::string_view name, std::string_view json) {
  ++renders;
  return "[\"" + std::string(name) + "\"," + std::string(json) + "]";
}
const WireFormat kBracketed(&bracketed);

TEST(RenderedEvent, AWireFormatIsRenderedOncePerEventAndSharedAcrossThreads) {
  const auto event = std::make_shared<const RenderedEvent>(typing_to({1}, "alice"));
  EXPECT_EQ(event->name(), "typing");
  renders = 0;
  std::vector<net::Frame> frames(8);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    threads.emplace_back([&, i] { frames[i] = RenderedEvent::frame_in(event, kBracketed); });
  }
  for (auto& t : threads) t.join();
  // Racing shards may each render once, but all of them get the one that was kept.
  EXPECT_GE(renders.load(), 1);
  for (const auto& f : frames) EXPECT_EQ(f.get(), frames[0].get());
  EXPECT_EQ(frames[0]->payload(), "[\"typing\"," + std::string(event->json()) + "]");
  renders = 0;
  EXPECT_EQ(RenderedEvent::frame_in(event, kBracketed).get(), frames[0].get());
  EXPECT_EQ(renders.load(), 0);  // later sessions share it
}

}  // namespace
}  // namespace parley::api
