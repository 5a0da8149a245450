#include "store/postgres/postgres_store.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "contract/store_contract.hpp"
#include "core/ids.hpp"
#include "fakes/pg_schema.hpp"

namespace parley::testing {
namespace {

// Keeps the schema alive as long as the store.
struct PgFixtureStore {
  PgSchema schema{*test_postgres_url()};
  PostgresStore store{schema.url(), 4};
};

std::vector<StoreFactory> postgres_factories() {
  if (!test_postgres_url()) return {};
  return {StoreFactory{"postgres", [] {
    auto holder = std::make_shared<PgFixtureStore>();
    return std::shared_ptr<Store>(holder, &holder->store);
  }}};
}

// The whole contract suite, against a real PostgreSQL server (one schema per test).
INSTANTIATE_TEST_SUITE_P(Postgres, StoreContract, ::testing::ValuesIn(postgres_factories()),
                         [](const auto& param_info) { return param_info.param.name; });

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test_postgres_url()) {
      GTEST_SKIP() << "PARLEY_TEST_POSTGRES is not set (make test sets it: scripts/services)";
    }
    schema_.emplace(*test_postgres_url());
  }
  std::optional<PgSchema> schema_;
};

TEST_F(PostgresStoreTest, DataSurvivesReconnectingAndMigrationsRunOnce) {
  SeededIdGenerator ids(1);
  chat::ConvId conv;
  {
    PostgresStore store(schema_->url(), 2);
    const auto a = store.create_user("alice", "h", 1)->id;
    const auto b = store.create_user("bob", "h", 1)->id;
    conv = store.get_or_create_direct(a, b, ids.uuid_v7(1), 1, false)->id;
    std::vector<chat::NewMessage> batch{{conv, a, "", "c1", "persisted", std::nullopt}};
    ASSERT_TRUE(store.append_messages(batch, 2, ids, {})[0].ok());
  }
  PostgresStore again(schema_->url(), 2);  // the migrations find nothing left to do
  auto page = again.history(conv, {});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->messages.size(), 1u);
  EXPECT_EQ(page->messages[0].body, "persisted");
  EXPECT_EQ(page->messages[0].from, "alice");
}

TEST_F(PostgresStoreTest, RefusesASchemaFromANewerVersion) {
  { PostgresStore store(schema_->url(), 1); }
  pg::Connection conn(schema_->url());
  ASSERT_TRUE(conn.exec_script("INSERT INTO schema_migrations VALUES(999, 0)").ok());
  EXPECT_THROW(PostgresStore(schema_->url(), 1), std::runtime_error);
}

TEST_F(PostgresStoreTest, NodesStartingTogetherMigrateOnce) {
  std::vector<std::thread> nodes;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    nodes.emplace_back([&] {
      try {
        PostgresStore store(schema_->url(), 1);
      } catch (const std::exception&) {
        ++failures;
      }
    });
  }
  for (auto& t : nodes) t.join();
  EXPECT_EQ(failures, 0);
  pg::Connection conn(schema_->url());
  auto r = conn.exec_script("SELECT count(*), count(DISTINCT version) FROM schema_migrations");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.i64(0, 0), r.i64(0, 1));
}

// Two nodes' stores on one schema, and two users.
struct TwoNodes {
  explicit TwoNodes(const std::string& url)
      : node_a(url, 2),
        node_b(url, 2),
        a(node_a.create_user("alice", "h", 1)->id),
        b(node_a.create_user("bob", "h", 1)->id) {}
  PostgresStore node_a;
  PostgresStore node_b;
  const chat::UserId a;
  const chat::UserId b;
};

TEST_F(PostgresStoreTest, TwoNodesCreatingOneDirectConversationGetTheSame) {
  TwoNodes nodes(schema_->url());
  auto& [node_a, node_b, a, b] = nodes;
  SeededIdGenerator ids(7);
  auto first = node_a.get_or_create_direct(a, b, ids.uuid_v7(1), 1, false);
  auto second = node_b.get_or_create_direct(b, a, ids.uuid_v7(1), 1, false);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->id, second->id);
  EXPECT_EQ(node_b.members(first->id)->size(), 2u);
}

// A commit held open on `in_flight`: one call of the routine storing a new message (key k1,
// `body`) from `sender` in `conv`, with `position` when given — run in a transaction left
// uncommitted. Returns the routine's outcome ("new").
std::string commit_held_open(pg::Connection& in_flight, const chat::ConvId& conv,
                             chat::UserId sender, const std::string& body,
                             const std::optional<LogPosition>& position) {
  if (!in_flight.exec_script("BEGIN").ok()) return "no transaction";
  const std::string topic = position ? position->topic : "";
  const std::string partitions = position ? "{" + std::to_string(position->partition) + "}" : "{}";
  const std::string from = position ? "{" + std::to_string(position->from) + "}" : "{}";
  const std::string to = position ? "{" + std::to_string(position->to) + "}" : "{}";
  auto r = in_flight.exec(
      "SELECT o_outcome FROM parley_append_messages_v2($1, $2::int[], $3::bigint[], "
      "$4::bigint[], ARRAY[$5], ARRAY[$6::bigint], ARRAY['k1'], ARRAY['m-1'], ARRAY[$7], "
      "ARRAY[NULL::bigint], ARRAY[5::bigint], ARRAY['[]'], 5, NULL, true)",
      {topic, partitions, from, to, conv, std::to_string(sender), body});
  return r.ok() ? r.text(0, 0) : r.error();
}

// Whether another session's call of the routine comes to wait on a lock within 5 s.
bool a_commit_waits_on_a_lock() {
  pg::Connection observer(*test_postgres_url());
  for (int i = 0; i < 500; ++i) {
    auto r = observer.exec_script(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND query LIKE '%parley_append_messages_v2(%' AND pid <> pg_backend_pid()");
    if (r.ok() && r.i64(0, 0) > 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Several nodes on one database with embedded writers (no Kafka): a client retries a send on a
// second node while the first node's commit of it is still in flight. The retry waits for that
// commit and comes back as the stored message — never a unique-key error, never a second row.
TEST_F(PostgresStoreTest, ARetryOnAnotherNodeWhileTheFirstCommitIsInFlightComesBackStored) {
  TwoNodes nodes(schema_->url());
  auto& [node_a, node_b, a, b] = nodes;
  SeededIdGenerator ids(3);
  const chat::ConvId conv = node_a.get_or_create_direct(a, b, ids.uuid_v7(1), 1, false)->id;

  // Node A's commit, held open: the routine ran, its transaction has not committed.
  pg::Connection in_flight(schema_->url());
  ASSERT_EQ(commit_held_open(in_flight, conv, a, "first try", std::nullopt), "new");

  std::optional<Result<chat::Appended>> retried;
  std::thread node_b_writer([&] {
    std::vector<chat::NewMessage> batch{{conv, a, "", "k1", "second try", std::nullopt}};
    retried.emplace(node_b.append_messages(batch, 6, ids, {})[0]);
  });
  // The retry's commit waits on node A's locks before A commits (else this proves nothing).
  const bool waiting = a_commit_waits_on_a_lock();
  EXPECT_TRUE(in_flight.exec_script("COMMIT").ok());
  node_b_writer.join();
  ASSERT_TRUE(waiting) << "the retry never waited for the commit in flight";
  ASSERT_TRUE(retried && retried->ok()) << (retried ? retried->error().message : "no result");
  EXPECT_TRUE((*retried)->duplicate);
  EXPECT_EQ((*retried)->msg.seq, 1);
  EXPECT_EQ((*retried)->msg.body, "first try");
  EXPECT_EQ(node_b.history(conv, {})->messages.size(), 1u);
}

// Two sequencers that both found no position for a partition (from -1) commit their first
// batch at once: the second waits for the first and is fenced — one position, one message.
TEST_F(PostgresStoreTest, TwoFirstWritersOfAPartitionAtOnceTheSecondIsFenced) {
  TwoNodes nodes(schema_->url());
  auto& [node_a, node_b, a, b] = nodes;
  SeededIdGenerator ids(4);
  const chat::ConvId conv = node_a.get_or_create_direct(a, b, ids.uuid_v7(1), 1, false)->id;

  // Node A's first commit of partition 3, held open: its position row is not committed yet.
  const LogPosition position{"parley.messages", 3, -1, 1};
  pg::Connection in_flight(schema_->url());
  ASSERT_EQ(commit_held_open(in_flight, conv, a, "from node a", position), "new");

  std::optional<Result<chat::Appended>> second;
  std::thread node_b_writer([&] {
    std::vector<chat::NewMessage> batch{{conv, a, "", "k2", "from node b", std::nullopt}};
    second.emplace(node_b.append_messages(batch, 6, ids, {&position, 1})[0]);
  });
  const bool waiting = a_commit_waits_on_a_lock();
  EXPECT_TRUE(in_flight.exec_script("COMMIT").ok());
  node_b_writer.join();
  ASSERT_TRUE(waiting) << "the second writer never waited for the first";
  ASSERT_TRUE(second && !second->ok());
  EXPECT_EQ(second->error().message, fenced_error().message);
  EXPECT_EQ(*node_b.log_position("parley.messages", 3), 1);
  const auto stored = node_b.history(conv, {})->messages;
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].body, "from node a");
}

TEST(PostgresStoreUnreachable, FailsWithTheServerInTheMessageAndNoPassword) {
  try {
    PostgresStore store("postgres://parley:s3cret@127.0.0.1:1/parley?connect_timeout=2", 1);
    FAIL() << "connected to nothing";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("127.0.0.1:1/parley"), std::string::npos) << what;
    EXPECT_EQ(what.find("s3cret"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace parley::testing
