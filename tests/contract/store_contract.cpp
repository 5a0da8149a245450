// The Store contract suite (see store_contract.hpp).
#include "contract/store_contract.hpp"

#include <algorithm>
#include <tuple>

#include "core/ids.hpp"

namespace parley::testing {
namespace {

using namespace chat;

constexpr TimeMs kNow = 1'790'000'000'000;

struct Fixture {
  std::shared_ptr<Store> store;
  SeededIdGenerator ids{42};

  explicit Fixture(const StoreFactory& f) : store(f.make()) {}

  UserId user(const std::string& name) {
    auto u = store->create_user(name, "hash-" + name, kNow);
    EXPECT_TRUE(u.ok()) << name;
    return u->id;
  }
  ConvId direct(UserId a, UserId b) {
    auto c = store->get_or_create_direct(a, b, ids.uuid_v7(kNow), kNow, false);
    EXPECT_TRUE(c.ok());
    return c->id;
  }
  ConvId group(UserId owner, std::vector<UserId> members) {
    NewGroup g;
    g.id = ids.uuid_v7(kNow);
    g.title = "team";
    g.creator_id = owner;
    g.members = std::move(members);
    g.now = kNow;
    auto c = store->create_group(g);
    EXPECT_TRUE(c.ok());
    return c->id;
  }
  NewMessage msg(const ConvId& conv, UserId sender, const std::string& client_id,
                 const std::string& body = "hello") {
    // `from` as ChatService fills it: the sender's username.
    return NewMessage{conv, sender, store->get_user(sender)->username, client_id, body, std::nullopt};
  }
  std::vector<Result<Appended>> append(std::vector<NewMessage> batch) {
    return store->append_messages(batch, kNow, ids, {});
  }
};

TEST_P(StoreContract, UsersAreUniqueByUsername) {
  Fixture f(GetParam());
  auto alice = f.store->create_user("alice", "h1", kNow);
  ASSERT_TRUE(alice.ok());
  EXPECT_EQ(alice->username, "alice");
  auto again = f.store->create_user("alice", "h2", kNow);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::conflict);

  auto creds = f.store->find_credentials("alice");
  ASSERT_TRUE(creds.ok());
  EXPECT_EQ(creds->password_hash, "h1");  // the failed second create changed nothing
  EXPECT_EQ(f.store->find_user("nobody").error().code, Errc::not_found);
  EXPECT_EQ(f.store->get_user(alice->id)->username, "alice");
}

TEST_P(StoreContract, DirectConversationIsOnePerPairInEitherOrder) {
  Fixture f(GetParam());
  const auto a = f.user("alice"), b = f.user("bob");
  EXPECT_FALSE(f.store->find_direct(a, b)->has_value());
  const auto ab = f.direct(a, b);
  EXPECT_EQ(f.direct(b, a), ab);
  EXPECT_EQ(**f.store->find_direct(b, a), ab);
  auto members = f.store->members(ab);
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->size(), 2u);
  auto conv = f.store->get_conversation(ab);
  EXPECT_EQ(conv->kind, ConvKind::direct);
}

TEST_P(StoreContract, GroupMembershipChanges) {
  Fixture f(GetParam());
  const auto a = f.user("alice"), b = f.user("bob"), c = f.user("carol");
  const auto g = f.group(a, {b, b, a});  // duplicates and the creator are ignored
  auto members = f.store->members(g);
  ASSERT_EQ(members->size(), 2u);
  EXPECT_EQ((*members)[0].username, "alice");
  EXPECT_EQ((*members)[0].role, Role::owner);
  EXPECT_EQ((*members)[1].role, Role::member);

  ASSERT_TRUE(f.store->add_member(g, c, Role::member, kNow).ok());
  EXPECT_EQ(f.store->add_member(g, c, Role::member, kNow).error().code, Errc::conflict);
  EXPECT_EQ(f.store->add_member(f.ids.uuid_v7(kNow), c, Role::member, kNow).error().code,
            Errc::not_found);

  // The owner leaves: the longest-standing member takes over.
  ASSERT_TRUE(f.store->remove_member(g, a, kNow + 5).ok());
  members = f.store->members(g);
  ASSERT_EQ(members->size(), 2u);
  EXPECT_EQ((*members)[0].username, "bob");
  EXPECT_EQ((*members)[0].role, Role::owner);
  EXPECT_EQ(f.store->remove_member(g, a, kNow + 6).error().code, Errc::not_found);
  // Alice left: sync can tell her; joining again clears it.
  auto left = f.store->departures_of(a);
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].conv, g);
  EXPECT_EQ((*left)[0].at, kNow + 5);
  ASSERT_TRUE(f.store->add_member(g, a, Role::member, kNow + 7).ok());
  EXPECT_TRUE(f.store->departures_of(a)->empty());
}

TEST_P(StoreContract, AppendAssignsDenseSeqsPerConversation) {
  Fixture f(GetParam());
  const auto a = f.user("alice"), b = f.user("bob");
  const auto ab = f.direct(a, b);
  const auto g = f.group(a, {b});
  auto r = f.append({f.msg(ab, a, "1"), f.msg(g, a, "1"), f.msg(ab, b, "1"), f.msg(ab, a, "2")});
  ASSERT_EQ(r.size(), 4u);
  for (const auto& x : r) ASSERT_TRUE(x.ok());
  EXPECT_EQ(r[0]->msg.seq, 1);
  EXPECT_EQ(r[1]->msg.seq, 1);
  EXPECT_EQ(r[2]->msg.seq, 2);  // same client id, other sender: a different message
  EXPECT_EQ(r[3]->msg.seq, 3);
  auto next = f.append({f.msg(ab, b, "x")});
  EXPECT_EQ(next[0]->msg.seq, 4);
  EXPECT_EQ(f.store->get_conversation(ab)->last_seq, 4);
  EXPECT_NE(r[0]->msg.id, r[3]->msg.id);
  EXPECT_EQ(r[0]->msg.ts, kNow);
}

TEST_P(StoreContract, RetriedClientMsgIdReturnsTheOriginal) {
  Fixture f(GetParam());
  const auto a = f.user("alice"), b = f.user("bob");
  const auto ab = f.direct(a, b);
  auto first = f.append({f.msg(ab, a, "c1", "first"), f.msg(ab, a, "c1", "retry in batch")});
  ASSERT_TRUE(first[0].ok() && first[1].ok());
  EXPECT_FALSE(first[0]->duplicate);
  EXPECT_TRUE(first[1]->duplicate);
  EXPECT_EQ(first[1]->msg.id, first[0]->msg.id);
  EXPECT_EQ(first[1]->msg.body, "first");

  auto later = f.append({f.msg(ab, a, "c1", "retry later")});
  ASSERT_TRUE(later[0].ok());
  EXPECT_TRUE(later[0]->duplicate);
  EXPECT_EQ(later[0]->msg.seq, 1);
  auto page = f.store->history(ab, HistoryQuery{});
  ASSERT_EQ(page->messages.size(), 1u);  // stored once
}

TEST_P(StoreContract, BodiesAndClientIdsAreStoredByteForByte) {
  Fixture f(GetParam());
  const auto a = f.user("alice"), b = f.user("bob");
  const auto ab = f.direct(a, b);
  // What a batch encoding could mangle: quotes, backslashes, commas, braces, the word NULL.
  const std::string body = "say \"hi\", {then} \\ NULL \\\" é";
  const std::string client_id = "id,with\"quote\\";
  auto r = f.append({f.msg(ab, a, client_id, body), f.msg(ab, b, "NULL", "NULL")});
  ASSERT_TRUE(r[0].ok() && r[1].ok());
  auto page = f.store->history(ab, HistoryQuery{});
  ASSERT_EQ(page->messages.size(), 2u);
  EXPECT_EQ(page->messages[0].body, body);
  EXPECT_EQ(page->messages[0].client_msg_id, client_id);
  EXPECT_EQ(page->messages[1].body, "NULL");
  EXPECT_EQ(page->messages[1].client_msg_id, "NULL");
  auto retry = f.append({f.msg(ab, a, client_id, "again")});  // found by the same key
  ASSERT_TRUE(retry[0].ok());
  EXPECT_TRUE(retry[0]->duplicate);
  EXPECT_EQ(retry[0]->msg.body, body);
}

TEST_P(StoreContract, AppendToUnknownConversationFailsAloneInItsBatch) {
  Fixture f(GetParam());
  const auto a = f.user("alice"), b = f.user("bob");
  const auto ab = f.direct(a, b);
  auto r = f.append({f.msg(f.ids.uuid_v7(kNow), a, "1"), f.msg(ab, a, "2")});
  ASSERT_FALSE(r[0].ok());
  EXPECT_EQ(r[0].error().code, Errc::not_found);
  ASSERT_TRUE(r[1].ok());
  EXPECT_EQ(r[1]->msg.seq, 1);
}

TEST_P(StoreContract, LogPositionMovesWithTheBatchAndFencesAStaleWriter) {
  Fixture f(GetParam());
  const auto a = f.user("alice"), b = f.user("bob");
  const auto ab = f.direct(a, b);
  EXPECT_EQ(*f.store->log_position("parley.messages", 3), std::nullopt);

  std::vector<NewMessage> batch{f.msg(ab, a, "1"), f.msg(ab, b, "1")};
  // None stored: only a writer that found none (-1) makes it. One ahead of a position the
  // store lost (an unflushed first commit) is fenced, and reads the partition again.
  const LogPosition ahead{"parley.messages", 3, 7, 9};
  auto refused_ahead = f.store->append_messages(batch, kNow, f.ids, {&ahead, 1});
  ASSERT_FALSE(refused_ahead[0].ok());
  EXPECT_EQ(refused_ahead[0].error().code, Errc::conflict);
  EXPECT_EQ(*f.store->log_position("parley.messages", 3), std::nullopt);
  EXPECT_EQ(f.store->get_conversation(ab)->last_seq, 0);
  const LogPosition first{"parley.messages", 3, -1, 2};
  auto r = f.store->append_messages(batch, kNow, f.ids, {&first, 1});
  ASSERT_TRUE(r[0].ok() && r[1].ok());
  EXPECT_EQ(*f.store->log_position("parley.messages", 3), 2);
  EXPECT_EQ(*f.store->log_position("parley.messages", 4), std::nullopt);  // per partition

  // A zombie that read the same offsets again: nothing is stored, every result says fenced.
  std::vector<NewMessage> stale{f.msg(ab, a, "2")};
  auto fenced = f.store->append_messages(stale, kNow, f.ids, {&first, 1});
  ASSERT_FALSE(fenced[0].ok());
  EXPECT_EQ(fenced[0].error().code, Errc::conflict);
  EXPECT_EQ(f.store->get_conversation(ab)->last_seq, 2);
  EXPECT_EQ(*f.store->log_position("parley.messages", 3), 2);

  // The owner goes on from where it committed, and seqs stay dense.
  const LogPosition next{"parley.messages", 3, 2, 3};
  auto ok = f.store->append_messages(stale, kNow, f.ids, {&next, 1});
  ASSERT_TRUE(ok[0].ok());
  EXPECT_EQ(ok[0]->msg.seq, 3);
  EXPECT_EQ(*f.store->log_position("parley.messages", 3), 3);

  // Several partitions in one transaction: one stale position fences them all.
  std::vector<NewMessage> two{f.msg(ab, a, "3"), f.msg(ab, b, "3")};
  const std::vector<LogPosition> one_stale{{"parley.messages", 4, -1, 5},
                                           {"parley.messages", 3, 2, 4}};
  auto refused = f.store->append_messages(two, kNow, f.ids, one_stale);
  ASSERT_FALSE(refused[0].ok());
  EXPECT_EQ(refused[1].error().code, Errc::conflict);
  EXPECT_EQ(f.store->get_conversation(ab)->last_seq, 3);
  EXPECT_EQ(*f.store->log_position("parley.messages", 4), std::nullopt);  // rolled back too
  const std::vector<LogPosition> both{{"parley.messages", 4, -1, 5},
                                      {"parley.messages", 3, 3, 4}};
  auto stored = f.store->append_messages(two, kNow, f.ids, both);
  ASSERT_TRUE(stored[0].ok() && stored[1].ok());
  EXPECT_EQ(stored[1]->msg.seq, 5);
  EXPECT_EQ(*f.store->log_position("parley.messages", 4), 5);
  EXPECT_EQ(*f.store->log_position("parley.messages", 3), 4);
}

// Invariant 3 and the precondition of LogCommits::replayable (PostgresStore): a message keeps
// the id and time it was accepted with, so that writing the same records again — after a crash
// lost the last commits — writes the very same rows, whatever the batches and the clock.
TEST_P(StoreContract, AReplayOfTheSameRecordsWritesTheSameRows) {
  auto run = [&](std::vector<std::size_t> batch_sizes, TimeMs now) {
    Fixture f(GetParam());  // a store of its own; the seeded ids make the same conversations
    const auto a = f.user("alice"), b = f.user("bob");
    const auto ab = f.direct(a, b);
    const auto g = f.group(a, {b});
    // Six records; the last retries the second (the same conversation, sender and client id).
    const std::vector<std::tuple<ConvId, UserId, std::string>> keys{
        {ab, a, "1"}, {g, a, "1"}, {ab, b, "1"}, {g, b, "2"}, {ab, a, "2"}, {g, a, "1"}};
    std::vector<NewMessage> records;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const auto& [conv, sender, client_id] = keys[i];
      NewMessage m = f.msg(conv, sender, client_id);
      m.id = "01890000-0000-7000-8000-00000000000" + std::to_string(i);
      m.ts = kNow - 1000 + static_cast<TimeMs>(i);  // accepted before the commit, not at it
      records.push_back(m);
    }
    std::size_t at = 0;
    for (const std::size_t n : batch_sizes) {
      std::vector<NewMessage> batch(records.begin() + static_cast<std::ptrdiff_t>(at),
                                    records.begin() + static_cast<std::ptrdiff_t>(at + n));
      for (const auto& r : f.store->append_messages(batch, now, f.ids, {})) EXPECT_TRUE(r.ok());
      at += n;
    }
    std::vector<Message> rows;
    for (const auto& conv : {ab, g}) {
      auto page = f.store->history(conv, HistoryQuery{});
      rows.insert(rows.end(), page->messages.begin(), page->messages.end());
    }
    return rows;
  };
  const auto first = run({6}, kNow);
  const auto replayed = run({1, 2, 3}, kNow + 60'000);
  ASSERT_EQ(first.size(), 5u);  // the retry is stored once
  ASSERT_EQ(replayed.size(), first.size());
  for (std::size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(replayed[i].conv, first[i].conv);
    EXPECT_EQ(replayed[i].seq, first[i].seq);
    EXPECT_EQ(replayed[i].id, first[i].id);
    EXPECT_EQ(replayed[i].ts, first[i].ts);
    EXPECT_EQ(replayed[i].sender_id, first[i].sender_id);
    EXPECT_EQ(replayed[i].client_msg_id, first[i].client_msg_id);
  }
  EXPECT_EQ(first[0].ts, kNow - 1000);  // not the writer's clock
}

TEST_P(StoreContract, HistoryPagesBySeq) {
  Fixture f(GetParam());
  const auto a = f.user("alice"), b = f.user("bob");
  const auto ab = f.direct(a, b);
  std::vector<NewMessage> batch;
  for (int i = 1; i <= 25; ++i) batch.push_back(f.msg(ab, a, std::to_string(i), "m" + std::to_string(i)));
  f.append(batch);

  HistoryQuery latest;
  latest.limit = 10;
  auto page = f.store->history(ab, latest);
  ASSERT_EQ(page->messages.size(), 10u);
  EXPECT_EQ(page->messages.front().seq, 16);  // the newest page, oldest first
  EXPECT_EQ(page->messages.back().seq, 25);
  EXPECT_TRUE(page->has_more);
  EXPECT_EQ(page->messages.back().body, "m25");

  HistoryQuery before;
  before.before = 6;
  before.limit = 10;
  page = f.store->history(ab, before);
  ASSERT_EQ(page->messages.size(), 5u);
  EXPECT_EQ(page->messages.front().seq, 1);
  EXPECT_FALSE(page->has_more);

  HistoryQuery after;
  after.after = 20;
  after.limit = 3;
  page = f.store->history(ab, after);
  ASSERT_EQ(page->messages.size(), 3u);
  EXPECT_EQ(page->messages.front().seq, 21);
  EXPECT_TRUE(page->has_more);
  after.after = 22;
  page = f.store->history(ab, after);
  EXPECT_EQ(page->messages.size(), 3u);
  EXPECT_FALSE(page->has_more);
}

TEST_P(StoreContract, ConversationsOfCountsUnreadFromOthers) {
  Fixture f(GetParam());
  const auto a = f.user("alice"), b = f.user("bob"), c = f.user("carol");
  const auto ab = f.direct(a, b);
  const auto g = f.group(b, {c});  // alice is not in it
  f.append({f.msg(ab, a, "1"), f.msg(ab, b, "2"), f.msg(ab, b, "3", "latest")});
  f.append({f.msg(g, c, "1")});

  auto list = f.store->conversations_of(a);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  const auto& s = (*list)[0];
  EXPECT_EQ(s.conversation.id, ab);
  EXPECT_EQ(s.peer, "bob");
  EXPECT_EQ(s.conversation.last_seq, 3);
  EXPECT_EQ(s.unread, 2);  // bob's two; alice's own message is not unread for her
  ASSERT_TRUE(s.last_message.has_value());
  EXPECT_EQ(s.last_message->body, "latest");
  EXPECT_EQ(s.last_message->from, "bob");

  EXPECT_EQ(f.store->conversations_of(b)->size(), 2u);
}

TEST_P(StoreContract, ReceiptCursorsOnlyMoveForward) {
  Fixture f(GetParam());
  const auto a = f.user("alice"), b = f.user("bob");
  const auto ab = f.direct(a, b);
  f.append({f.msg(ab, a, "1"), f.msg(ab, a, "2"), f.msg(ab, a, "3")});

  auto r = f.store->advance_cursors(ab, b, 2, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->first.delivered_seq, 2);
  EXPECT_EQ(r->first.read_seq, 0);
  EXPECT_TRUE(r->second);
  r = f.store->advance_cursors(ab, b, 1, 0);  // lower: ignored
  EXPECT_EQ(r->first.delivered_seq, 2);
  EXPECT_FALSE(r->second);
  r = f.store->advance_cursors(ab, b, 0, 99);  // past the end: clamped; read implies delivered
  EXPECT_EQ(r->first.read_seq, 3);
  EXPECT_EQ(r->first.delivered_seq, 3);
  EXPECT_TRUE(r->second);
  EXPECT_EQ(f.store->advance_cursors(ab, f.user("carol"), 1, 1).error().code, Errc::not_found);

  auto summary = f.store->conversations_of(b);
  EXPECT_EQ((*summary)[0].read_seq, 3);
  EXPECT_EQ((*summary)[0].unread, 0);
  auto members = f.store->members(ab);
  const auto& bob = (*members)[0].user_id == b ? (*members)[0] : (*members)[1];
  EXPECT_EQ(bob.delivered_seq, 3);
}

TEST_P(StoreContract, EditsAndDeletesBySenderOnlyWithRevs) {
  Fixture f(GetParam());
  const auto a = f.user("alice"), b = f.user("bob");
  const auto ab = f.direct(a, b);
  f.append({f.msg(ab, a, "1", "first"), f.msg(ab, a, "2", "second"), f.msg(ab, b, "3", "bob's")});

  auto edited = f.store->change_message(ab, 1, a, "first, edited", kNow + 1);
  ASSERT_TRUE(edited.ok());
  EXPECT_EQ(edited->body, "first, edited");
  EXPECT_EQ(edited->edited_at, kNow + 1);
  EXPECT_EQ(edited->rev, 1);
  EXPECT_EQ(f.store->change_message(ab, 3, a, "not mine", kNow).error().code, Errc::forbidden);
  EXPECT_EQ(f.store->change_message(ab, 9, a, "none", kNow).error().code, Errc::not_found);

  auto deleted = f.store->change_message(ab, 2, a, std::nullopt, kNow + 2);
  ASSERT_TRUE(deleted.ok());
  EXPECT_TRUE(deleted->deleted);
  EXPECT_EQ(deleted->body, "");
  EXPECT_EQ(deleted->rev, 2);
  EXPECT_EQ(f.store->change_message(ab, 2, a, "revive", kNow).error().code, Errc::conflict);

  // History shows the tombstone in its place; changes lists both in rev order.
  auto page = f.store->history(ab, {});
  ASSERT_EQ(page->messages.size(), 3u);
  EXPECT_TRUE(page->messages[1].deleted);
  EXPECT_EQ(page->messages[0].body, "first, edited");
  auto changes = f.store->changes(ab, 0, 10);
  ASSERT_EQ(changes->messages.size(), 2u);
  EXPECT_EQ(changes->messages[0].seq, 1);
  EXPECT_EQ(changes->messages[1].seq, 2);
  EXPECT_EQ(f.store->changes(ab, 1, 10)->messages.size(), 1u);
  EXPECT_EQ(f.store->get_conversation(ab)->last_rev, 2);
  // A deleted message is not unread.
  EXPECT_EQ((*f.store->conversations_of(b))[0].unread, 1);
}

TEST_P(StoreContract, OneMessageReadsAsItIsNowWhetherJustCommittedOrChanged) {
  Fixture f(GetParam());
  const auto a = f.user("alice"), b = f.user("bob");
  const auto ab = f.direct(a, b);
  // Read at once after the commit (SQLite: still held by the writer, not moved).
  f.append({f.msg(ab, a, "1", "first"), f.msg(ab, b, "2", "second")});
  auto second = f.store->message(ab, 2);
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_EQ((*second)->body, "second");
  EXPECT_EQ((*second)->from, "bob");
  EXPECT_EQ((*second)->seq, 2);
  EXPECT_EQ((*second)->id, f.store->history(ab, {})->messages[1].id);
  EXPECT_FALSE(f.store->message(ab, 3)->has_value());
  EXPECT_FALSE(f.store->message("no-such-conversation", 1)->has_value());
  // After an edit and a deletion: as they are now.
  ASSERT_TRUE(f.store->change_message(ab, 1, a, "first, edited", kNow + 1).ok());
  ASSERT_TRUE(f.store->change_message(ab, 2, b, std::nullopt, kNow + 2).ok());
  EXPECT_EQ((*f.store->message(ab, 1))->body, "first, edited");
  EXPECT_TRUE((*f.store->message(ab, 2))->deleted);
}

TEST_P(StoreContract, GroupsOfAUserAreItsGroupsOnlyAndLeaveWithIt) {
  Fixture f(GetParam());
  const auto a = f.user("alice"), b = f.user("bob"), c = f.user("carol");
  f.direct(a, b);  // not a group
  const auto g1 = f.group(a, {b});
  const auto g2 = f.group(c, {a});
  f.group(c, {b});  // a is not in it
  auto groups = f.store->groups_of(a);
  ASSERT_TRUE(groups.ok());
  std::sort(groups->begin(), groups->end());
  auto expected = std::vector<ConvId>{g1, g2};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(*groups, expected);
  ASSERT_TRUE(f.store->remove_member(g2, a, kNow).ok());
  EXPECT_EQ(*f.store->groups_of(a), std::vector<ConvId>{g1});
  EXPECT_TRUE(f.store->groups_of(f.user("dave"))->empty());
}

TEST_P(StoreContract, ContactsAndLastSeen) {
  Fixture f(GetParam());
  const auto a = f.user("alice"), b = f.user("bob"), c = f.user("carol"), d = f.user("dave");
  f.direct(a, b);
  f.group(a, {c});
  f.group(d, {});
  auto contacts = f.store->contacts_of(a);
  ASSERT_TRUE(contacts.ok());
  std::sort(contacts->begin(), contacts->end());
  EXPECT_EQ(*contacts, (std::vector<UserId>{b, c}));
  EXPECT_TRUE(f.store->contacts_of(d)->empty());

  std::vector<std::pair<UserId, TimeMs>> seen{{a, kNow + 10}, {b, kNow + 20}};
  ASSERT_TRUE(f.store->record_last_seen(seen).ok());
  std::vector<std::pair<UserId, TimeMs>> older{{a, kNow + 5}};
  ASSERT_TRUE(f.store->record_last_seen(older).ok());  // never moves back
  EXPECT_EQ(f.store->get_user(a)->last_seen_at, kNow + 10);
  EXPECT_EQ(f.store->get_user(b)->last_seen_at, kNow + 20);
  EXPECT_FALSE(f.store->get_user(c)->last_seen_at.has_value());
}

}  // namespace
}  // namespace parley::testing
