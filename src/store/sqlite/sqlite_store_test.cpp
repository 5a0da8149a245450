#include "store/sqlite/sqlite_store.hpp"

#include <gtest/gtest.h>

#include "contract/store_contract.hpp"
#include "core/ids.hpp"
#include "fakes/temp_dir.hpp"
#include "store/sqlite/migrations.hpp"

namespace parley::testing {
namespace {

// Keeps the temporary directory alive as long as the store.
struct SqliteFixtureStore {
  TempDir dir;
  SqliteStore store{dir.file("parley.db"), 2};
};

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContract,
                         ::testing::Values(StoreFactory{"sqlite", [] {
                           auto holder = std::make_shared<SqliteFixtureStore>();
                           return std::shared_ptr<Store>(holder, &holder->store);
                         }}),
                         [](const auto& param_info) { return param_info.param.name; });

TEST(SqliteStore, DataSurvivesReopen) {
  TempDir dir;
  SeededIdGenerator ids(1);
  chat::ConvId conv;
  {
    SqliteStore store(dir.file("p.db"), 1);
    const auto a = store.create_user("alice", "h", 1)->id;
    const auto b = store.create_user("bob", "h", 1)->id;
    conv = store.get_or_create_direct(a, b, ids.uuid_v7(1), 1)->id;
    std::vector<chat::NewMessage> batch{{conv, a, "", "c1", "persisted", std::nullopt}};
    ASSERT_TRUE(store.append_messages(batch, 2, ids, {})[0].ok());
  }
  SqliteStore reopened(dir.file("p.db"), 1);
  auto page = reopened.history(conv, {});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->messages.size(), 1u);
  EXPECT_EQ(page->messages[0].body, "persisted");
  EXPECT_EQ(page->messages[0].from, "alice");
}

// The writer counts seqs from a cached last_seq; a batch that rolls back must leave the cache
// at the committed value, or the next batch would skip seqs (DESIGN.md §2.3).
TEST(SqliteStore, ABatchThatRollsBackGivesOutNoSeqs) {
  TempDir dir;
  SeededIdGenerator ids(1);
  SqliteStore store(dir.file("p.db"), 1);
  const auto a = store.create_user("alice", "h", 1)->id;
  const auto b = store.create_user("bob", "h", 1)->id;
  const auto conv = store.get_or_create_direct(a, b, ids.uuid_v7(1), 1)->id;
  std::vector<chat::NewMessage> first{{conv, a, "", "c1", "one", std::nullopt}};
  ASSERT_EQ(store.append_messages(first, 2, ids, {})[0]->msg.seq, 1);

  // Another connection makes one body fail: the batch's first message is inserted, then the
  // second fails, and the whole batch rolls back.
  sqlite::Db other(dir.file("p.db"), false);
  other.exec("CREATE TRIGGER boom BEFORE INSERT ON messages WHEN NEW.body = 'boom' "
             "BEGIN SELECT RAISE(ABORT, 'injected'); END");
  std::vector<chat::NewMessage> failing{{conv, a, "", "c2", "two", std::nullopt},
                                        {conv, a, "", "c3", "boom", std::nullopt}};
  auto failed = store.append_messages(failing, 3, ids, {});
  ASSERT_FALSE(failed[0].ok());
  ASSERT_FALSE(failed[1].ok());
  other.exec("DROP TRIGGER boom");

  auto next = store.append_messages(failing, 4, ids, {});  // the same sends, retried
  ASSERT_TRUE(next[0].ok() && next[1].ok());
  EXPECT_EQ(next[0]->msg.seq, 2);
  EXPECT_EQ(next[1]->msg.seq, 3);
  EXPECT_FALSE(next[0]->duplicate);  // nothing of the failed batch was stored
  EXPECT_EQ(store.get_conversation(conv)->last_seq, 3);
}

TEST(SqliteStore, RefusesADatabaseFromANewerVersion) {
  TempDir dir;
  { SqliteStore store(dir.file("p.db"), 1); }
  {
    sqlite::Db db(dir.file("p.db"), false);
    db.exec("INSERT INTO schema_migrations VALUES(999, 0)");
  }
  EXPECT_THROW(SqliteStore(dir.file("p.db"), 1), std::runtime_error);
}

}  // namespace
}  // namespace parley::testing
