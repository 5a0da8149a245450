// MessageLog's subscribers: inline ones see each new message before its ack, in order; one that
// may block runs on its own thread behind a bounded queue, and what overflows it is counted.
#include "log/message_log.hpp"

#include <gtest/gtest.h>

#include <latch>
#include <thread>

namespace parley {
namespace {

// A log that commits whatever it is given at once, on the caller's thread.
class ImmediateLog final : public MessageLog {
 public:
  void append(chat::NewMessage m, Done done) override {
    chat::Appended a;
    a.msg.conv = m.conv;
    a.msg.seq = ++seq_;
    a.msg.body = m.body;
    a.duplicate = m.body == "duplicate";
    Result<chat::Appended> r(std::move(a));
    sequenced(r);
    done(std::move(r));
  }
  void drain() override {}
  std::uint64_t commits() const override { return 0; }
  std::uint64_t committed_messages() const override { return 0; }

 private:
  chat::Seq seq_ = 0;
};

chat::NewMessage message(std::string body) {
  chat::NewMessage m;
  m.conv = "c";
  m.body = std::move(body);
  return m;
}

TEST(MessageLog, SubscribersThatMustNotBlockSeeEachNewMessageBeforeItsAck) {
  ImmediateLog log;
  std::vector<std::string> seen;
  log.subscribe("first", MessageLog::Blocking::forbidden,
                [&](const chat::Message& m) { seen.push_back("first:" + m.body); });
  log.subscribe("second", MessageLog::Blocking::forbidden,
                [&](const chat::Message& m) { seen.push_back("second:" + m.body); });
  for (const char* body : {"a", "duplicate", "b"}) {
    log.append(message(body), [&](Result<chat::Appended> r) { seen.push_back("ack:" + r->msg.body); });
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"first:a", "second:a", "ack:a", "ack:duplicate",
                                            "first:b", "second:b", "ack:b"}));
}

TEST(MessageLog, ASubscriberThatMayBlockRunsOnItsOwnThreadInOrderAndOverflowIsCounted) {
  ImmediateLog log;
  std::latch release(1);
  std::vector<chat::Seq> seen;
  std::thread::id handler_thread;
  log.subscribe(
      "push", MessageLog::Blocking::allowed,
      [&](const chat::Message& m) {
        handler_thread = std::this_thread::get_id();
        release.wait();  // blocks, as an HTTP call would; the log goes on meanwhile
        seen.push_back(m.seq);
      },
      /*max_queued=*/3);
  // The first is taken by the handler (blocked), three wait, the fifth and sixth overflow.
  bool acked_while_blocked = true;
  for (int i = 0; i < 6; ++i) {
    bool acked = false;
    log.append(message("m"), [&](Result<chat::Appended>) { acked = true; });
    acked_while_blocked = acked_while_blocked && acked;
    if (i == 0) {
      while (log.queued_subscribers()[0]->dropped() == 0 && handler_thread == std::thread::id()) {
        std::this_thread::yield();  // until the handler holds the first message
      }
    }
  }
  EXPECT_TRUE(acked_while_blocked);
  release.count_down();
  log.queued_subscribers()[0]->wait_idle();
  EXPECT_NE(handler_thread, std::this_thread::get_id());
  EXPECT_EQ(seen, (std::vector<chat::Seq>{1, 2, 3, 4}));
  EXPECT_EQ(log.queued_subscribers()[0]->dropped(), 2u);
}

}  // namespace
}  // namespace parley
