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
    ASSERT_TRUE(store.append_messages(batch, 2, ids, nullptr)[0].ok());
  }
  SqliteStore reopened(dir.file("p.db"), 1);
  auto page = reopened.history(conv, {});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->messages.size(), 1u);
  EXPECT_EQ(page->messages[0].body, "persisted");
  EXPECT_EQ(page->messages[0].from, "alice");
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
