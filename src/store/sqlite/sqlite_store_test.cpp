#include "store/sqlite/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <thread>

#include "contract/store_contract.hpp"
#include "core/ids.hpp"
#include "fakes/temp_dir.hpp"
#include "store/sqlite/inbox.hpp"
#include "store/sqlite/journal.hpp"
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
  chat::ConvId conv = store.get_or_create_direct(a, b, ids.uuid_v7(1), 1, false)->id;
};

// Creates the store at path with alice, bob and their direct conversation, and closes it.
struct Seeded {
  chat::UserId alice = 0;
  chat::ConvId conv;
};
// The mover's commits have no event a test can await: polls `done` until it holds, with a
// deadline far past the mover's work.
bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

Seeded seed_alice_and_bob(const std::string& path) {
  SqliteStore store(path, 1);
  SeededIdGenerator ids(1);
  const auto alice = store.create_user("alice", "h", 1)->id;
  const auto bob = store.create_user("bob", "h", 1)->id;
  return {alice, store.get_or_create_direct(alice, bob, ids.uuid_v7(1), 1, false)->id};
}

// Sixteen sends in conv with 8 KiB bodies (about 128 KiB of journal records), their client ids
// numbered on from next_client_id.
std::vector<chat::NewMessage> sends_of_128_kib(const chat::ConvId& conv, chat::UserId from,
                                               int& next_client_id) {
  std::vector<chat::NewMessage> batch;
  for (int i = 0; i < 16; ++i) {
    batch.push_back({conv, from, "", "c" + std::to_string(++next_client_id),
                     std::string(8192, 'x'), std::nullopt});
  }
  return batch;
}

// Runs body in a child process, which body ends with _exit(0) when it succeeded, from inside the
// scope of what it opened: no destructor and no final move run, as in a crash. True when the
// child exited with 0.
bool in_a_process_that_crashes(const std::function<void()>& body) {
  const pid_t child = fork();
  if (child < 0) return false;
  if (child == 0) {
    body();
    _exit(1);
  }
  int status = 0;
  return waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// The journal's segment files of the store at path (not its lock file).
std::vector<std::string> journal_segments(const std::string& path) {
  const std::string prefix = std::filesystem::path(sqlite::Inbox::journal_path(path)).filename().string() + ".";
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(path).parent_path())) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(prefix) && !name.ends_with(".lock")) names.push_back(name);
  }
  return names;
}

TEST(SqliteStore, DataSurvivesReopen) {
  TempDir dir;
  SeededIdGenerator ids(1);
  chat::ConvId conv;
  {
    SqliteStore store(dir.file("p.db"), 1);
    const auto a = store.create_user("alice", "h", 1)->id;
    const auto b = store.create_user("bob", "h", 1)->id;
    conv = store.get_or_create_direct(a, b, ids.uuid_v7(1), 1, false)->id;
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

// Fails the test from a forked child (EXPECT_EXIT shows what it wrote to stderr).
#define CHILD_CHECK(cond)                                   \
  do {                                                      \
    if (!(cond)) {                                          \
      std::fprintf(stderr, "child: failed: %s\n", #cond);   \
      std::_Exit(1);                                        \
    }                                                       \
  } while (false)

// The writer counts seqs from a cached last_seq; a batch whose journal write fails must leave
// the cache at the committed value, or the next batch would skip seqs (invariant 3,
// docs/architecture.md), and must leave nothing on disk that a later open would find. The write
// fails for real: the child's file size limit (RLIMIT_FSIZE) stops it part-way, as a full disk
// would.
void fail_a_write_then_retry(const TempDir& dir) {
  const std::string path = dir.file("p.db");
  chat::ConvId conv;
  chat::UserId a = 0;
  std::vector<chat::NewMessage> failing;
  {
    SqliteStore store(path, 1);
    SeededIdGenerator ids(1);
    a = store.create_user("alice", "h", 1)->id;
    const auto b = store.create_user("bob", "h", 1)->id;
    conv = store.get_or_create_direct(a, b, ids.uuid_v7(1), 1, false)->id;
    std::vector<chat::NewMessage> first{{conv, a, "", "c1", "one", std::nullopt}};
    CHILD_CHECK(store.append_messages(first, 2, ids, {})[0]->msg.seq == 1);
    CHILD_CHECK(store.history(conv, {}).ok());  // moved now: the mover has nothing to write

    // Where the next record goes: the end of the records, read from a copy of the journal (the
    // store holds the journal itself), not the file's length, which includes zeros made ahead.
    const std::string segment = sqlite::Inbox::journal_path(path) + ".1";
    std::filesystem::copy_file(segment, dir.file("copy.1"));
    std::uint64_t journal_bytes = 0;
    sqlite::Journal(dir.file("copy"), 1 << 20, [&](std::int64_t, std::string_view payload) {
      journal_bytes += 16 + payload.size();  // length, CRC and tag, then the payload
    });
    CHILD_CHECK(journal_bytes > 0 && std::filesystem::file_size(segment) > journal_bytes);
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit old_limit{};
    ::getrlimit(RLIMIT_FSIZE, &old_limit);
    rlimit limit = old_limit;
    limit.rlim_cur = journal_bytes + 20;  // the record's first 20 bytes go in, then EFBIG
    ::setrlimit(RLIMIT_FSIZE, &limit);
    failing = {{conv, a, "", "c2", "two", std::nullopt},
               {conv, a, "", "c3", "three", std::nullopt}};
    auto failed = store.append_messages(failing, 3, ids, {});
    ::setrlimit(RLIMIT_FSIZE, &old_limit);
    CHILD_CHECK(failed.size() == 2 && !failed[0].ok() && !failed[1].ok());
    CHILD_CHECK(failed[0].error().code == Errc::unavailable);
    CHILD_CHECK(std::filesystem::file_size(segment) == journal_bytes);  // the part written is cut

    auto next = store.append_messages(failing, 4, ids, {});  // the same sends, retried
    CHILD_CHECK(next[0].ok() && next[1].ok());
    CHILD_CHECK(next[0]->msg.seq == 2 && next[1]->msg.seq == 3);
    CHILD_CHECK(!next[0]->duplicate);  // nothing of the failed batch was kept
    CHILD_CHECK(store.get_conversation(conv)->last_seq == 3);
  }
  SqliteStore reopened(path, 1);
  auto page = reopened.history(conv, {});
  CHILD_CHECK(page.ok() && page->messages.size() == 3);
  CHILD_CHECK(page->messages[1].body == "two" && page->messages[2].seq == 3);
  std::_Exit(0);
}

TEST(SqliteStore, ABatchWhoseWriteFailsGivesOutNoSeqsAndLeavesNothing) {
  TempDir dir;
  EXPECT_EXIT(fail_a_write_then_retry(dir), ::testing::ExitedWithCode(0), "");
}

// Invariant 1 (docs/architecture.md) through the inbox: a process that dies right after
// acknowledging messages, before its mover moved them into the store, loses none of them; the next
// start moves them, gives out the following seqs, and still knows their client ids.
TEST(SqliteStore, AcknowledgedMessagesStillInTheInboxSurviveACrash) {
  TempDir dir;
  const std::string path = dir.file("p.db");
  const auto [alice, conv] = seed_alice_and_bob(path);
  // The child acknowledges three messages and dies before its mover's hour is up.
  ASSERT_TRUE(in_a_process_that_crashes([&] {
    SqliteStore store(path, 1, 32, 256, std::chrono::hours(1));
    SeededIdGenerator ids(2);
    std::vector<chat::NewMessage> batch{{conv, alice, "", "c1", "one", std::nullopt},
                                        {conv, alice, "", "c2", "two", std::nullopt},
                                        {conv, alice, "", "c3", "three", std::nullopt}};
    const auto acked = store.append_messages(batch, 2, ids, {});
    if (acked.size() == 3 && acked[0].ok() && acked[1].ok() && acked[2].ok()) _exit(0);
  }));
  {
    // The crash left them where this test means: in the journal, not in the store.
    sqlite::Db store_file(path, true);
    sqlite::Query in_store(store_file, "SELECT count(*) FROM messages");
    ASSERT_TRUE(in_store.step());
    ASSERT_EQ(in_store.i64(0), 0);
    int records = 0;
    sqlite::Journal journal(sqlite::Inbox::journal_path(path), 1 << 20,
                            [&](std::int64_t, std::string_view) { ++records; });
    ASSERT_EQ(records, 1);  // the batch of three
  }
  SqliteStore store(path, 1);
  // Moved at open; the segments that held them are deleted, the new one is all that is left.
  EXPECT_EQ(journal_segments(path).size(), 1u);
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

// A clean close moves everything and deletes the journal, so the next start reads nothing; the
// messages are in the store, and seqs and ids go on from there.
TEST(SqliteStore, AStoreClosedCleanlyLeavesNoJournal) {
  TempDir dir;
  const std::string path = dir.file("p.db");
  const auto [alice, conv] = seed_alice_and_bob(path);
  SeededIdGenerator ids(2);
  {
    SqliteStore store(path, 1);
    std::vector<chat::NewMessage> batch{{conv, alice, "", "c1", "one", std::nullopt},
                                        {conv, alice, "", "c2", "two", std::nullopt}};
    auto acked = store.append_messages(batch, 2, ids, {});
    ASSERT_TRUE(acked[0].ok() && acked[1].ok());
    EXPECT_EQ(journal_segments(path).size(), 1u);
  }
  EXPECT_TRUE(journal_segments(path).empty());
  SqliteStore store(path, 1);
  std::vector<chat::NewMessage> retry{{conv, alice, "", "c2", "two", std::nullopt},
                                      {conv, alice, "", "c3", "three", std::nullopt}};
  auto after = store.append_messages(retry, 3, ids, {});
  ASSERT_TRUE(after[0].ok() && after[1].ok());
  EXPECT_TRUE(after[0]->duplicate);  // found in the store
  EXPECT_EQ(after[1]->msg.seq, 3);
  auto page = store.history(conv, {});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->messages.size(), 3u);
}

// A process that dies after its rows were moved leaves a segment whose records are all in the
// store: the next start deletes it at once, not at its first move.
TEST(SqliteStore, ASegmentMovedBeforeACrashIsDeletedAtTheNextStart) {
  TempDir dir;
  const std::string path = dir.file("p.db");
  const auto [alice, conv] = seed_alice_and_bob(path);
  ASSERT_TRUE(in_a_process_that_crashes([&] {  // moved (history moves first), then gone
    SqliteStore store(path, 1);
    SeededIdGenerator ids(2);
    std::vector<chat::NewMessage> batch{{conv, alice, "", "c1", "one", std::nullopt}};
    if (store.append_messages(batch, 2, ids, {})[0].ok() && store.history(conv, {}).ok()) _exit(0);
  }));
  ASSERT_FALSE(journal_segments(path).empty());
  SqliteStore store(path, 1);
  EXPECT_EQ(journal_segments(path).size(), 1u);  // the new one
  EXPECT_EQ(store.get_conversation(conv)->last_seq, 1);
}

// A retry finds its original wherever it is: in the same batch, in the inbox, in the store after
// the move — and in the store once edited, as it is now (invariant 2, docs/architecture.md).
TEST(SqliteStore, ARetryFindsItsOriginalInTheInboxAndInTheStore) {
  AliceAndBob fixture;
  auto& [dir, ids, store, a, b, conv] = fixture;
  const chat::NewMessage send{conv, a, "alice", "c1", "one", std::nullopt};  // as ChatService
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

// The inbox's dedupe keys of unmoved rows live in generations (inbox.hpp): each move's unmoved()
// starts one, and moved(upto) drops the generations whose rows are all up to `upto`. Driven by
// hand here, without the store's mover: a row the test says was moved is in fact not in the store,
// so a retry of it is taken as new exactly when the inbox no longer answers for it.
TEST(InboxKeys, AMoveDropsTheGenerationsItCoveredAndTheStoreAnswersForMovedRows) {
  TempDir dir;
  const std::string path = dir.file("p.db");
  const auto [alice, conv] = seed_alice_and_bob(path);
  // The store closed cleanly: nothing unmoved, its journal gone.
  sqlite::Inbox inbox(path, 0, 1, std::size_t{1} << 20);
  SeededIdGenerator ids(2);
  // Sends client id `client` (again, or anew once forgotten); true when it was a duplicate.
  auto is_duplicate = [&](const std::string& client) {
    std::vector<chat::NewMessage> batch{{conv, alice, "alice", client, "hi", std::nullopt}};
    auto results = inbox.append(batch, 2, ids, {});
    EXPECT_TRUE(results[0].ok());
    return results[0].ok() && results[0]->duplicate;
  };
  std::vector<std::int64_t> head;  // head[i]: the highest id after sending k<i>
  for (int i = 0; i < 5; ++i) {
    EXPECT_FALSE(is_duplicate("k" + std::to_string(i)));
    head.push_back(inbox.unmoved().head);  // also starts a new generation, as a move does
  }
  // Four generations at most: k0, k1, k2 in one each, k3 and k4 together in the fourth.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(is_duplicate("k" + std::to_string(i))) << i;
  EXPECT_EQ(inbox.remembered_keys(), 5u);

  inbox.moved(head[1]);  // k0 and k1 are in the store now (so the inbox believes)
  EXPECT_EQ(inbox.remembered_keys(), 3u);  // their generations are gone
  EXPECT_TRUE(is_duplicate("k2"));
  EXPECT_FALSE(is_duplicate("k0"));  // taken as new: a fresh row, in the newest generation
  EXPECT_EQ(inbox.remembered_keys(), 4u);

  // k3's generation also holds k4 (and the fresh k0), which are not moved: it stays, but k3 is
  // answered by the store now — as it is there, edited perhaps — not from memory.
  inbox.moved(head[3]);
  EXPECT_EQ(inbox.remembered_keys(), 3u);  // k2's generation is gone
  EXPECT_FALSE(is_duplicate("k3"));
  EXPECT_TRUE(is_duplicate("k4"));
  EXPECT_TRUE(is_duplicate("k0"));
}

// A store from before the journal kept its inbox in a SQLite file (PATH-inbox); its rows are
// acknowledged messages, so the first open by this version moves them into the store with their
// conversations' last_seq and the log positions, and deletes the old file.
TEST(SqliteStore, AnInboxFromBeforeTheJournalIsTakenIn) {
  TempDir dir;
  const std::string path = dir.file("p.db");
  const auto [alice, conv] = seed_alice_and_bob(path);
  {
    sqlite::Db legacy(sqlite::Inbox::legacy_path(path), false);
    legacy.exec("PRAGMA journal_mode = WAL");
    legacy.exec(R"sql(
CREATE TABLE inbox(row_id INTEGER PRIMARY KEY, conversation_id TEXT NOT NULL,
  seq INTEGER NOT NULL, id TEXT NOT NULL, sender_id INTEGER NOT NULL,
  client_msg_id TEXT NOT NULL, body TEXT, reply_to INTEGER, created_at INTEGER NOT NULL);
CREATE TABLE log_positions(topic TEXT NOT NULL, partition INTEGER NOT NULL,
  next_offset INTEGER NOT NULL, PRIMARY KEY(topic, partition)) WITHOUT ROWID;
INSERT INTO log_positions VALUES('parley.messages', 0, 7);
PRAGMA user_version = 1;
)sql");
    for (int seq = 1; seq <= 2; ++seq) {
      const std::string id = "id-" + std::to_string(seq), client_msg_id = "c" + std::to_string(seq),
                        body = "old " + std::to_string(seq);
      sqlite::Query insert(legacy, "INSERT INTO inbox VALUES(?, ?, ?, ?, ?, ?, ?, NULL, 5)");
      insert.bind(1, std::int64_t{seq}).bind(2, conv).bind(3, std::int64_t{seq}).bind(4, id)
          .bind(5, alice).bind(6, client_msg_id).bind(7, body);
      ASSERT_FALSE((insert.step(), insert.failed())) << insert.error();
    }
  }
  SqliteStore store(path, 1);
  EXPECT_FALSE(std::filesystem::exists(sqlite::Inbox::legacy_path(path)));
  auto page = store.history(conv, {});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->messages.size(), 2u);
  EXPECT_EQ(page->messages[1].body, "old 2");
  EXPECT_EQ(store.get_conversation(conv)->last_seq, 2);
  EXPECT_EQ(store.log_position("parley.messages", 0)->value_or(-1), 7);
  SeededIdGenerator ids(2);
  std::vector<chat::NewMessage> more{{conv, alice, "", "c2", "retry", std::nullopt},
                                     {conv, alice, "", "c3", "new", std::nullopt}};
  auto after = store.append_messages(more, 6, ids, {});
  ASSERT_TRUE(after[0].ok() && after[1].ok());
  EXPECT_TRUE(after[0]->duplicate);
  EXPECT_EQ(after[0]->msg.id, "id-2");
  EXPECT_EQ(after[1]->msg.seq, 3);
}

// What waits to be moved is bounded: while moves cannot happen (here another connection holds
// the database's write lock, as a full disk would fail them), sends are acknowledged until the
// bound, then fail with unavailable and take no seqs; once a move lands they succeed again.
TEST(SqliteStore, SendsFailWithUnavailableWhileTooMuchWaitsToBeMoved) {
  TempDir dir;
  const std::string path = dir.file("p.db");
  const auto [alice, conv] = seed_alice_and_bob(path);
  SqliteStore store(path, 1, 32, /*max_unmoved_mib=*/1);
  SeededIdGenerator ids(2);
  int next_client_id = 0;
  auto batch_of_128_kib = [&] {
    return store.append_messages(sends_of_128_kib(conv, alice, next_client_id), 2, ids, {});
  };

  sqlite::Db blocker(path, false);
  blocker.exec("BEGIN IMMEDIATE");
  int acked = 0;
  std::vector<Result<chat::Appended>> refused;
  for (int round = 0; round < 16 && refused.empty(); ++round) {
    auto results = batch_of_128_kib();
    if (results[0].ok()) {
      for (const auto& r : results) ASSERT_TRUE(r.ok());
      acked += static_cast<int>(results.size());
    } else {
      refused = std::move(results);
    }
  }
  // Eight batches of 16 × 8 KiB bodies (and their ids and keys) pass 1 MiB of records.
  ASSERT_FALSE(refused.empty());
  EXPECT_EQ(acked, 8 * 16);
  for (const auto& r : refused) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::unavailable);
  }
  EXPECT_FALSE(batch_of_128_kib()[0].ok());  // still behind

  blocker.exec("ROLLBACK");
  ASSERT_TRUE(store.history(conv, {}).ok());  // a read moves its conversation's rows first
  auto after = batch_of_128_kib();
  ASSERT_TRUE(after[0].ok());
  EXPECT_EQ(after[0]->msg.seq, acked + 1);  // the refused sends took no seqs
  EXPECT_EQ(store.get_conversation(conv)->last_seq, acked + 16);
}

// Large messages reach the inbox's bound in bytes long before kMoveRows rows: at half the bound
// the mover moves at once instead of waiting out its interval (here an hour, so only that rule
// can move them).
TEST(SqliteStore, HalfTheInboxBoundInBytesIsMovedAtOnce) {
  TempDir dir;
  const std::string path = dir.file("p.db");
  const auto [alice, conv] = seed_alice_and_bob(path);
  SqliteStore store(path, 1, 32, /*max_unmoved_mib=*/1, std::chrono::hours(1));
  SeededIdGenerator ids(2);
  int sent = 0;
  // Five batches of 16 × 8 KiB bodies: past 512 KiB of records, 80 rows.
  for (int round = 0; round < 5; ++round) {
    for (const auto& r : store.append_messages(sends_of_128_kib(conv, alice, sent), 2, ids, {})) {
      ASSERT_TRUE(r.ok());
    }
  }
  sqlite::Db store_file(path, true);
  auto moved = [&] {
    sqlite::Query in_store(store_file, "SELECT count(*) FROM messages");
    return in_store.step() ? in_store.i64(0) : -1;
  };
  EXPECT_TRUE(eventually([&] { return moved() == sent; })) << moved() << " of " << sent;
}

// A batch of only log positions (a cluster sequencer's batch whose messages were all retries)
// wakes the mover too: the positions reach the store's table, and the journal can let them go.
TEST(SqliteStore, ABatchOfOnlyLogPositionsIsMoved) {
  TempDir dir;
  const std::string path = dir.file("p.db");
  SqliteStore store(path, 1);
  SeededIdGenerator ids(2);
  const LogPosition position{"parley.messages", 3, -1, 7};
  EXPECT_TRUE(store.append_messages({}, 2, ids, {&position, 1}).empty());
  sqlite::Db store_file(path, true);
  auto stored = [&] {
    sqlite::Query q(store_file, "SELECT next_offset FROM log_positions "
                                "WHERE topic = 'parley.messages' AND partition = 3");
    return q.step() ? q.i64(0) : -1;
  };
  EXPECT_TRUE(eventually([&] { return stored() == 7; })) << stored();
}

// One process per database: the journal has one writer, whose memory is the truth about seqs.
TEST(SqliteStore, ASecondStoreOnTheSameDatabaseIsRefused) {
  TempDir dir;
  SqliteStore store(dir.file("p.db"), 1);
  EXPECT_THROW(SqliteStore(dir.file("p.db"), 1), std::runtime_error);
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
