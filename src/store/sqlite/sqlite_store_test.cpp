#include "store/sqlite/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

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

// alice and bob, and their direct conversation, in a store under p.db.
struct AliceAndBob {
  TempDir dir;
  SeededIdGenerator ids{1};
  SqliteStore store{dir.file("p.db"), 1};
  chat::UserId a = store.create_user("alice", "h", 1)->id;
  chat::UserId b = store.create_user("bob", "h", 1)->id;
  chat::ConvId conv = store.get_or_create_direct(a, b, ids.uuid_v7(1), 1)->id;
};

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
  AliceAndBob fixture;
  auto& [dir, ids, store, a, b, conv] = fixture;
  std::vector<chat::NewMessage> first{{conv, a, "", "c1", "one", std::nullopt}};
  ASSERT_EQ(store.append_messages(first, 2, ids, {})[0]->msg.seq, 1);

  // Another connection makes one body fail: the batch's first message is inserted, then the
  // second fails, and the whole batch rolls back.
  sqlite::Db other(sqlite::Inbox::path_for(dir.file("p.db")), false);
  other.exec("CREATE TRIGGER boom BEFORE INSERT ON inbox WHEN NEW.body = 'boom' "
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

// §2.1 through the inbox: a process that dies right after acknowledging messages, before its
// mover moved them into the store, loses none of them; the next start moves them, gives out the
// following seqs, and still knows their client ids.
TEST(SqliteStore, AcknowledgedMessagesStillInTheInboxSurviveACrash) {
  TempDir dir;
  const std::string path = dir.file("p.db");
  chat::ConvId conv;
  chat::UserId alice = 0;
  {
    SqliteStore store(path, 1);
    SeededIdGenerator ids(1);
    alice = store.create_user("alice", "h", 1)->id;
    const auto bob = store.create_user("bob", "h", 1)->id;
    conv = store.get_or_create_direct(alice, bob, ids.uuid_v7(1), 1)->id;
  }
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child acknowledges three messages and dies at once: no destructor, no final move.
    SqliteStore store(path, 1);
    SeededIdGenerator ids(2);
    std::vector<chat::NewMessage> batch{{conv, alice, "", "c1", "one", std::nullopt},
                                        {conv, alice, "", "c2", "two", std::nullopt},
                                        {conv, alice, "", "c3", "three", std::nullopt}};
    const auto acked = store.append_messages(batch, 2, ids, {});
    const bool all = acked.size() == 3 && acked[0].ok() && acked[1].ok() && acked[2].ok();
    _exit(all ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  {
    // The crash left them where this test means: in the inbox, not in the store.
    sqlite::Db store_file(path, true);
    sqlite::Query in_store(store_file, "SELECT count(*) FROM messages");
    ASSERT_TRUE(in_store.step());
    ASSERT_EQ(in_store.i64(0), 0);
    sqlite::Db inbox_file(sqlite::Inbox::path_for(path), true);
    sqlite::Query in_inbox(inbox_file, "SELECT count(*) FROM inbox");
    ASSERT_TRUE(in_inbox.step());
    ASSERT_EQ(in_inbox.i64(0), 3);
  }
  SqliteStore store(path, 1);
  SeededIdGenerator ids(3);
  auto page = store.history(conv, {});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->messages.size(), 3u);
  EXPECT_EQ(page->messages[2].body, "three");
  EXPECT_EQ(store.get_conversation(conv)->last_seq, 3);
  std::vector<chat::NewMessage> more{{conv, alice, "", "c2", "two", std::nullopt},
                                     {conv, alice, "", "c4", "four", std::nullopt}};
  auto after = store.append_messages(more, 5, ids, {});
  ASSERT_TRUE(after[0].ok() && after[1].ok());
  EXPECT_TRUE(after[0]->duplicate);
  EXPECT_EQ(after[0]->msg.id, page->messages[1].id);
  EXPECT_EQ(after[1]->msg.seq, 4);
}

// A retry finds its original wherever it is: in the same batch, in the inbox, in the store after
// the move — and in the store once edited, as it is now (DESIGN.md §2.2).
TEST(SqliteStore, ARetryFindsItsOriginalInTheInboxAndInTheStore) {
  AliceAndBob fixture;
  auto& [dir, ids, store, a, b, conv] = fixture;
  const chat::NewMessage send{conv, a, "", "c1", "one", std::nullopt};
  std::vector<chat::NewMessage> twice{send, send};
  auto first = store.append_messages(twice, 2, ids, {});
  ASSERT_TRUE(first[0].ok() && first[1].ok());
  EXPECT_FALSE(first[0]->duplicate);
  EXPECT_TRUE(first[1]->duplicate);
  EXPECT_EQ(first[1]->msg.id, first[0]->msg.id);

  std::vector<chat::NewMessage> once{send};
  auto from_inbox = store.append_messages(once, 3, ids, {});
  ASSERT_TRUE(from_inbox[0].ok());
  EXPECT_TRUE(from_inbox[0]->duplicate);
  EXPECT_EQ(from_inbox[0]->msg.id, first[0]->msg.id);
  EXPECT_EQ(from_inbox[0]->msg.from, "alice");

  // An edit moves the conversation's rows into the store first.
  ASSERT_TRUE(store.change_message(conv, 1, a, std::string("edited"), 4).ok());
  auto from_store = store.append_messages(once, 5, ids, {});
  ASSERT_TRUE(from_store[0].ok());
  EXPECT_TRUE(from_store[0]->duplicate);
  EXPECT_EQ(from_store[0]->msg.id, first[0]->msg.id);
  EXPECT_EQ(from_store[0]->msg.body, "edited");
  EXPECT_EQ(store.get_conversation(conv)->last_seq, 1);
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
