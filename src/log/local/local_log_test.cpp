#include "log/local/local_log.hpp"

#include <gtest/gtest.h>

#include <future>
#include <map>

#include "fakes/faulty_store.hpp"
#include "fakes/temp_dir.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace parley::testing {
namespace {

using namespace chat;

struct LogFixture {
  TempDir dir;
  SqliteStore sqlite{dir.file("p.db"), 2};
  FaultyStore store{sqlite};
  SystemClock clock;
  SeededIdGenerator ids{7};
  UserId alice = sqlite.create_user("alice", "h", 1)->id;
  UserId bob = sqlite.create_user("bob", "h", 1)->id;
  ConvId conv = sqlite.get_or_create_direct(alice, bob, ids.uuid_v7(1), 1, false)->id;

  NewMessage msg(int i) { return {conv, alice, "alice", "c" + std::to_string(i), "m", std::nullopt}; }
};

TEST(LocalLog, GroupCommitsConcurrentSendsWithDenseSeqsInCompletionOrder) {
  LogFixture f;
  // A delay long enough that every append below joins the first transaction or two.
  LocalLog log(f.store, f.clock, f.ids, {1024, std::chrono::milliseconds(200)});
  constexpr int kCount = 200;
  std::mutex mutex;
  std::vector<Seq> completed;
  std::promise<void> all_done;
  for (int i = 0; i < kCount; ++i) {
    log.append(f.msg(i), [&](Result<Appended> r) {
      ASSERT_TRUE(r.ok());
      std::lock_guard lock(mutex);
      completed.push_back(r->msg.seq);
      if (completed.size() == kCount) all_done.set_value();
    });
  }
  all_done.get_future().wait();
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(completed[i], i + 1);  // dense, in order
  EXPECT_LT(log.commits(), 10u);  // many messages per fsync
  EXPECT_EQ(log.committed_messages(), static_cast<std::uint64_t>(kCount));
}

TEST(LocalLog, FailedCommitAcknowledgesNothingAndStoresNothing) {
  LogFixture f;
  LocalLog log(f.store, f.clock, f.ids, {});
  f.store.fail_appends(true);
  std::promise<Result<Appended>> failed;
  log.append(f.msg(1), [&](Result<Appended> r) { failed.set_value(std::move(r)); });
  auto r = failed.get_future().get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_TRUE(f.sqlite.history(f.conv, {})->messages.empty());

  // The same client id succeeds once the store is back: the failure left no trace.
  f.store.fail_appends(false);
  std::promise<Result<Appended>> retried;
  log.append(f.msg(1), [&](Result<Appended> r2) { retried.set_value(std::move(r2)); });
  auto r2 = retried.get_future().get();
  ASSERT_TRUE(r2.ok());
  EXPECT_FALSE(r2->duplicate);
  EXPECT_EQ(r2->msg.seq, 1);
}

TEST(LocalLog, DrainCommitsWhatWasAcceptedAndRefusesTheRest) {
  LogFixture f;
  std::atomic<int> ok{0};
  {
    LocalLog log(f.store, f.clock, f.ids, {16, std::chrono::microseconds(0)});
    for (int i = 0; i < 100; ++i) {
      log.append(f.msg(i), [&](Result<Appended> r) { ok += r.ok(); });
    }
    log.drain();
    EXPECT_EQ(ok.load(), 100);
    bool refused = false;
    log.append(f.msg(1000), [&](Result<Appended> r) {
      refused = !r.ok() && r.error().code == Errc::unavailable;
    });
    EXPECT_TRUE(refused);
  }
  EXPECT_EQ(f.sqlite.get_conversation(f.conv)->last_seq, 100);
}

}  // namespace
}  // namespace parley::testing
