#include "store/sqlite/inbox.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "core/ids.hpp"
#include "fakes/temp_dir.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace parley::testing {
namespace {

// The inbox's dedupe keys of unmoved rows live in generations (inbox.hpp): each move's unmoved()
// starts one, and moved(upto) drops the generations whose rows are all up to `upto`. Driven by
// hand here, without the store's mover: a row the test says was moved is in fact not in the store,
// so a retry of it is taken as new exactly when the inbox no longer answers for it.
class InboxKeys : public ::testing::Test {
 protected:
  InboxKeys() {
    SqliteStore store(path, 1);
    const auto alice = store.create_user("alice", "h", 1)->id;
    const auto bob = store.create_user("bob", "h", 1)->id;
    conv = store.get_or_create_direct(alice, bob, ids.uuid_v7(1), 1)->id;
    from = alice;
  }

  // Sends client id `client` and starts a new key generation, as a move's unmoved() does;
  // returns the highest id committed so far.
  std::int64_t send(const std::string& client, bool& duplicate) {
    std::vector<chat::NewMessage> batch{{conv, from, "alice", client, "hi", std::nullopt}};
    auto results = inbox->append(batch, 2, ids, {});
    EXPECT_TRUE(results[0].ok());
    duplicate = results[0]->duplicate;
    return inbox->unmoved().head;  // also starts a new generation, as a move does
  }
  // Sends client id `client` again (or anew, once forgotten); true when it was a duplicate.
  bool is_duplicate(const std::string& client) {
    std::vector<chat::NewMessage> batch{{conv, from, "alice", client, "hi", std::nullopt}};
    auto results = inbox->append(batch, 3, ids, {});
    EXPECT_TRUE(results[0].ok());
    return results[0].ok() && results[0]->duplicate;
  }

  TempDir dir;
  std::string path = dir.file("p.db");
  SeededIdGenerator ids{1};
  chat::ConvId conv;
  chat::UserId from = 0;
  std::unique_ptr<sqlite::Inbox> inbox;
};

TEST_F(InboxKeys, AMoveDropsTheGenerationsItCoveredAndTheStoreAnswersForMovedRows) {
  // The store closed cleanly: nothing unmoved, its journal gone.
  inbox = std::make_unique<sqlite::Inbox>(path, 0, 1, std::size_t{1} << 20);
  bool duplicate = true;
  std::vector<std::int64_t> head;  // head[i]: the highest id after send i
  for (int i = 0; i < 5; ++i) {
    head.push_back(send("k" + std::to_string(i), duplicate));
    EXPECT_FALSE(duplicate);
  }
  // Four generations at most: k0, k1, k2 in one each, k3 and k4 together in the fourth.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(is_duplicate("k" + std::to_string(i))) << i;
  EXPECT_EQ(inbox->remembered_keys(), 5u);

  inbox->moved(head[1]);  // k0 and k1 are in the store now (so the inbox believes)
  EXPECT_EQ(inbox->remembered_keys(), 3u);  // their generations are gone
  EXPECT_TRUE(is_duplicate("k2"));
  EXPECT_FALSE(is_duplicate("k0"));  // taken as new: a fresh row, in the newest generation
  EXPECT_EQ(inbox->remembered_keys(), 4u);

  // k3's generation also holds k4 (and the fresh k0), which are not moved: it stays, but k3 is
  // answered by the store now — as it is there, edited perhaps — not from memory.
  inbox->moved(head[3]);
  EXPECT_EQ(inbox->remembered_keys(), 3u);  // k2's generation is gone
  EXPECT_FALSE(is_duplicate("k3"));
  EXPECT_TRUE(is_duplicate("k4"));
  EXPECT_TRUE(is_duplicate("k0"));
}

}  // namespace
}  // namespace parley::testing
