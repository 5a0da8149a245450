// ChatService with a real SQLite store and writer, and a recording bus: the rules of who may do
// what, and what gets published.
#include "service/chat_service.hpp"

#include <gtest/gtest.h>

#include <future>
#include <utility>

#include "fakes/recording_bus.hpp"
#include "fakes/temp_dir.hpp"
#include "log/local/local_log.hpp"
#include "presence/presence.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace parley::testing {
namespace {

using namespace chat;

// A cluster presence whose other nodes are played by the test.
struct ScriptedPresence final : Presence {
  bool others_online = false;  // another node has every user
  std::optional<TimeMs> others_last_seen;
  std::vector<UserId> heartbeats;
  std::vector<std::pair<UserId, TimeMs>> departures;
  bool arrived(UserId) override { return !others_online; }
  bool left(UserId user, TimeMs last_seen) override {
    departures.emplace_back(user, last_seen);
    return !others_online;
  }
  PresenceElsewhere elsewhere(UserId) override { return {others_online, others_last_seen}; }
  std::vector<Abandoned> abandoned;  // what the next heartbeat hands over
  std::vector<Abandoned> heartbeat(const std::vector<UserId>& here) override {
    heartbeats = here;
    return std::exchange(abandoned, {});
  }
};

struct ServiceFixture {
  TempDir dir;
  SqliteStore store{dir.file("p.db"), 2};
  ManualClock clock{1'790'000'000'000};
  SeededIdGenerator ids{3};
  LocalLog log{store, clock, ids, {}};
  RecordingBus bus;
  ScriptedPresence presence;  // alone in the cluster unless a test says otherwise
  auth::TokenSigner tokens{std::string(32, 's'), std::chrono::seconds(900), clock};
  ChatService service{store, store, log, bus, presence, clock, ids, tokens, {}};

  Caller user(const std::string& name) {
    EXPECT_TRUE(service.register_user(name, "password-" + name).ok());
    auto login = service.login(name, "password-" + name, "test");
    EXPECT_TRUE(login.ok());
    auto caller = service.authenticate(login->access_token);
    EXPECT_TRUE(caller.ok());
    return *caller;
  }

  Result<Appended> send(const Caller& from, SendRequest r) {
    auto prepared = service.prepare_send(from, std::move(r));
    if (!prepared) return prepared.error();
    std::promise<Result<Appended>> done;
    service.append(std::move(*prepared), [&](Result<Appended> a) { done.set_value(std::move(a)); });
    return done.get_future().get();
  }
  Result<Appended> send_to(const Caller& from, const std::string& to, const std::string& id) {
    return send(from, SendRequest{std::nullopt, to, id, "hello " + to, std::nullopt});
  }
  Result<Appended> send_in(const Caller& from, const ConvId& conv, const std::string& id) {
    return send(from, SendRequest{conv, std::nullopt, id, "hello", std::nullopt});
  }
};

TEST(ChatService, LoginRefreshLogout) {
  ServiceFixture f;
  ASSERT_TRUE(f.service.register_user("alice", "password-1").ok());
  EXPECT_EQ(f.service.register_user("alice", "password-2").error().code, Errc::conflict);
  EXPECT_EQ(f.service.login("alice", "wrong-password", "").error().code, Errc::unauthenticated);
  EXPECT_EQ(f.service.login("nobody", "password-1", "").error().code, Errc::unauthenticated);

  auto login = f.service.login("alice", "password-1", "laptop");
  ASSERT_TRUE(login.ok());
  auto refreshed = f.service.refresh(login->refresh_token);
  ASSERT_TRUE(refreshed.ok());
  EXPECT_NE(refreshed->refresh_token, login->refresh_token);
  // A refresh token works once.
  EXPECT_EQ(f.service.refresh(login->refresh_token).error().code, Errc::unauthenticated);

  auto caller = f.service.authenticate(refreshed->access_token);
  ASSERT_TRUE(caller.ok());
  ASSERT_TRUE(f.service.logout(*caller).ok());
  EXPECT_EQ(f.service.authenticate(refreshed->access_token).error().code, Errc::unauthenticated);
  EXPECT_FALSE(f.service.refresh(refreshed->refresh_token).ok());
}

TEST(ChatService, DirectMessagesPublishToBothUsersOnce) {
  ServiceFixture f;
  const auto alice = f.user("alice"), bob = f.user("bob");
  auto sent = f.send_to(alice, "bob", "c1");
  ASSERT_TRUE(sent.ok());
  EXPECT_EQ(sent->msg.seq, 1);
  EXPECT_EQ(sent->msg.from, "alice");

  auto retried = f.send_to(alice, "bob", "c1");
  ASSERT_TRUE(retried.ok());
  EXPECT_TRUE(retried->duplicate);
  EXPECT_EQ(retried->msg.id, sent->msg.id);

  const auto published = f.bus.published();
  ASSERT_EQ(published.size(), 1u);  // the retry is not delivered again
  auto recipients = published[0]->recipients;
  std::sort(recipients.begin(), recipients.end());
  EXPECT_EQ(recipients, (std::vector<UserId>{alice.user_id, bob.user_id}));
  // Not a group: a cluster bus carries it on the two users' own channels.
  EXPECT_FALSE(published[0]->group);

  EXPECT_EQ(f.send_to(alice, "nobody", "c2").error().code, Errc::not_found);
  EXPECT_EQ(f.send_to(alice, "alice", "c3").error().code, Errc::bad_request);
}

TEST(ChatService, NonMembersAreDeniedEverything) {
  ServiceFixture f;
  const auto alice = f.user("alice"), bob = f.user("bob"), eve = f.user("eve");
  auto group = f.service.create_group(alice, "team", {"bob"}, "");
  ASSERT_TRUE(group.ok());
  const auto dm = f.send_to(alice, "bob", "c1")->msg.conv;

  for (const auto& conv : {group->id, dm}) {
    EXPECT_EQ(f.service.history(eve, conv, {}).error().code, Errc::not_member);
    EXPECT_EQ(f.send_in(eve, conv, "e1").error().code, Errc::not_member);
  }
  EXPECT_EQ(f.service.group_info(eve, group->id).error().code, Errc::not_member);
  EXPECT_EQ(f.service.add_member(eve, group->id, "eve").error().code, Errc::not_member);
  EXPECT_EQ(f.service.remove_member(eve, group->id, "bob").error().code, Errc::not_member);
  EXPECT_EQ(f.service.group_history(eve, group->id, {}).error().code, Errc::not_member);
  // A direct conversation is not a group, and an unknown id is unknown.
  EXPECT_EQ(f.service.group_info(alice, dm).error().code, Errc::not_found);
  EXPECT_EQ(f.service.history(alice, "not-a-uuid", {}).error().code, Errc::not_found);
  EXPECT_EQ(f.service.history(alice, f.ids.uuid_v7(1), {}).error().code, Errc::not_found);
  // Nothing eve tried left a trace.
  EXPECT_EQ(f.service.history(bob, dm, {})->messages.size(), 1u);
  EXPECT_EQ(f.store.members(group->id)->size(), 2u);
}

TEST(ChatService, MembershipRulesAndEvents) {
  ServiceFixture f;
  const auto alice = f.user("alice"), bob = f.user("bob"), carol = f.user("carol");
  auto group = f.service.create_group(alice, "team", {"bob"}, "");
  ASSERT_TRUE(group.ok());
  const auto g = group->id;

  EXPECT_EQ(f.service.add_member(bob, g, "carol").error().code, Errc::forbidden);
  ASSERT_TRUE(f.service.add_member(alice, g, "carol").ok());
  EXPECT_EQ(f.service.add_member(alice, g, "carol").error().code, Errc::conflict);
  EXPECT_EQ(f.service.add_member(alice, g, "nobody").error().code, Errc::not_found);
  EXPECT_EQ(f.service.remove_member(bob, g, "carol").error().code, Errc::forbidden);

  // Carol can send now; the cache saw the change.
  ASSERT_TRUE(f.send_in(carol, g, "c1").ok());
  ASSERT_TRUE(f.service.remove_member(carol, g, "carol").ok());  // leaving
  EXPECT_EQ(f.send_in(carol, g, "c2").error().code, Errc::not_member);

  // The removed member hears about the removal too.
  const auto published = f.bus.published();
  const auto& last = published.back();
  const auto* event = std::get_if<ConversationEvent>(&last->event);
  ASSERT_NE(event, nullptr);
  EXPECT_EQ(event->change, "removed");
  EXPECT_EQ(event->user, "carol");
  EXPECT_EQ(event->user_id, carol.user_id);  // whose interest in the group a cluster bus drops
  EXPECT_NE(std::find(last->recipients.begin(), last->recipients.end(), carol.user_id),
            last->recipients.end());
  // Every event of a group is marked so (a cluster bus carries it on the group's channel).
  for (const auto& env : published) EXPECT_TRUE(env->group) << env->event.index();
}

TEST(ChatService, JoinByPasscode) {
  ServiceFixture f;
  const auto alice = f.user("alice"), bob = f.user("bob"), carol = f.user("carol");
  auto open = f.service.create_group(alice, "open", {}, "s3cret-pass");
  auto closed = f.service.create_group(alice, "closed", {}, "");
  ASSERT_TRUE(open.ok() && closed.ok());
  EXPECT_EQ(f.service.join_group(bob, open->id, "wrong").error().code, Errc::forbidden);
  EXPECT_EQ(f.service.join_group(bob, closed->id, "").error().code, Errc::forbidden);
  ASSERT_TRUE(f.service.join_group(bob, open->id, "s3cret-pass").ok());
  EXPECT_TRUE(f.send_in(bob, open->id, "b1").ok());
  EXPECT_EQ(f.send_in(carol, open->id, "c1").error().code, Errc::not_member);
}

TEST(ChatService, RejectsBadSends) {
  ServiceFixture f;
  const auto alice = f.user("alice");
  f.user("bob");
  EXPECT_EQ(f.send(alice, {std::nullopt, "bob", "", "x", std::nullopt}).error().code,
            Errc::bad_request);  // no client_msg_id
  EXPECT_EQ(f.send(alice, {std::nullopt, "bob", "c", "", std::nullopt}).error().code,
            Errc::bad_request);  // empty body
  EXPECT_EQ(f.send(alice, {std::nullopt, std::nullopt, "c", "x", std::nullopt}).error().code,
            Errc::bad_request);  // no target
  EXPECT_EQ(f.send(alice, {std::nullopt, "bob", "c", "x", 5}).error().code,
            Errc::bad_request);  // reply to a message that does not exist
  EXPECT_EQ(f.send(alice, {std::nullopt, "bob", "c", std::string(20'000, 'x'), std::nullopt})
                .error().code,
            Errc::too_large);
  EXPECT_TRUE(f.bus.published().empty());
  // None of the refused first sends opened a conversation.
  EXPECT_TRUE(f.service.conversations(alice)->empty());
}

}  // namespace
}  // namespace parley::testing

namespace parley::testing {
namespace {

template <class E>
std::vector<std::pair<const E*, std::vector<UserId>>> events_of(const RecordingBus& bus) {
  std::vector<std::pair<const E*, std::vector<UserId>>> out;
  for (const auto& env : bus.published()) {
    if (const auto* e = std::get_if<E>(&env->event)) {
      auto recipients = env->recipients;
      std::sort(recipients.begin(), recipients.end());
      out.emplace_back(e, recipients);
    }
  }
  return out;
}

TEST(ChatService, ReceiptsAreAnnouncedOnlyWhenTheyMove) {
  ServiceFixture f;
  const auto alice = f.user("alice"), bob = f.user("bob");
  const auto conv = f.send_to(alice, "bob", "c1")->msg.conv;
  ASSERT_TRUE(f.send_in(alice, conv, "c2").ok());

  auto cursors = f.service.mark(bob, conv, 0, 1);
  ASSERT_TRUE(cursors.ok());
  EXPECT_EQ(cursors->read_seq, 1);
  EXPECT_EQ(cursors->delivered_seq, 1);
  EXPECT_EQ(f.service.mark(bob, conv, 1, 1)->read_seq, 1);  // nothing moved
  auto receipts = events_of<ReceiptEvent>(f.bus);
  ASSERT_EQ(receipts.size(), 1u);
  EXPECT_EQ(receipts[0].first->user, "bob");
  EXPECT_EQ(receipts[0].second, (std::vector<UserId>{alice.user_id, bob.user_id}));
  EXPECT_EQ(f.service.mark(bob, conv, -1, 0).error().code, Errc::bad_request);
}

TEST(ChatService, TypingGoesToTheOthersOnly) {
  ServiceFixture f;
  const auto alice = f.user("alice"), bob = f.user("bob"), carol = f.user("carol");
  auto group = f.service.create_group(alice, "team", {"bob", "carol"}, "");
  ASSERT_TRUE(f.service.typing(bob, group->id).ok());
  auto typing = events_of<TypingEvent>(f.bus);
  ASSERT_EQ(typing.size(), 1u);
  EXPECT_EQ(typing[0].first->user, "bob");
  EXPECT_EQ(typing[0].second, (std::vector<UserId>{alice.user_id, carol.user_id}));
  EXPECT_EQ(f.service.typing(f.user("eve"), group->id).error().code, Errc::not_member);
}

TEST(ChatService, PresenceGoesToContactsAndLastSeenIsFlushedInBatches) {
  ServiceFixture f;
  const auto alice = f.user("alice"), bob = f.user("bob");
  f.user("stranger");
  ASSERT_TRUE(f.send_to(alice, "bob", "c1").ok());

  EXPECT_TRUE(f.service.presence_opened(bob));
  f.service.arrive(bob);
  EXPECT_TRUE(f.service.presence_closed(bob));
  f.clock.advance(5000);
  f.service.settle_presence(bob);
  auto presence = events_of<PresenceEvent>(f.bus);
  ASSERT_EQ(presence.size(), 2u);
  EXPECT_TRUE(presence[0].first->online);
  EXPECT_FALSE(presence[1].first->online);
  EXPECT_EQ(presence[1].first->last_seen, 1'790'000'000'000);  // when the session closed
  EXPECT_EQ(presence[1].second, std::vector<UserId>{alice.user_id});  // not the stranger

  EXPECT_FALSE(f.store.get_user(bob.user_id)->last_seen_at.has_value());  // not yet written
  ASSERT_TRUE(f.service.flush_last_seen().ok());
  EXPECT_EQ(f.store.get_user(bob.user_id)->last_seen_at, 1'790'000'000'000);
  auto info = f.service.presence_of(alice, "bob");
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->online);
  EXPECT_EQ(f.service.presence_of(f.user("eve"), "bob").error().code, Errc::forbidden);
}

TEST(ChatService, UsersOfADeadNodeHandedToThisOneAreAnnouncedOfflineAndTheirLastSeenStored) {
  ServiceFixture f;
  const auto alice = f.user("alice"), bob = f.user("bob");
  ASSERT_TRUE(f.send_to(alice, "bob", "c1").ok());
  f.presence.abandoned = {{bob.user_id, 1'790'000'050'000}};  // bob's node died
  f.service.presence_heartbeat();
  auto presence = events_of<PresenceEvent>(f.bus);
  ASSERT_EQ(presence.size(), 1u);
  EXPECT_EQ(presence[0].first->user, "bob");
  EXPECT_FALSE(presence[0].first->online);
  EXPECT_EQ(presence[0].first->last_seen, 1'790'000'050'000);
  EXPECT_EQ(presence[0].second, std::vector<UserId>{alice.user_id});
  // The dead node could not write bob's last seen: this one does.
  ASSERT_TRUE(f.service.flush_last_seen().ok());
  EXPECT_EQ(f.store.get_user(bob.user_id)->last_seen_at, 1'790'000'050'000);
  f.service.presence_heartbeat();  // handed over once
  EXPECT_EQ(events_of<PresenceEvent>(f.bus).size(), 1u);
}

TEST(ChatService, PresenceChangesAnotherNodeAlreadyAnnouncedStayUnannounced) {
  ServiceFixture f;
  const auto alice = f.user("alice"), bob = f.user("bob");
  ASSERT_TRUE(f.send_to(alice, "bob", "c1").ok());
  f.presence.others_online = true;  // bob has a session on another node
  f.presence.others_last_seen = 1'790'000'100'000;

  ASSERT_TRUE(f.service.presence_opened(bob));
  f.service.arrive(bob);  // the other node announced him already
  f.service.presence_heartbeat();
  EXPECT_EQ(f.presence.heartbeats, std::vector<UserId>{bob.user_id});
  ASSERT_TRUE(f.service.presence_closed(bob));
  f.service.settle_presence(bob);  // still online over there
  EXPECT_TRUE(events_of<PresenceEvent>(f.bus).empty());
  EXPECT_EQ(f.presence.departures,
            (std::vector<std::pair<UserId, TimeMs>>{{bob.user_id, 1'790'000'000'000}}));
  f.service.presence_heartbeat();
  EXPECT_TRUE(f.presence.heartbeats.empty());  // gone from this node

  auto info = f.service.presence_of(alice, "bob");
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->online);  // on the other node
  EXPECT_EQ(info->last_seen, 1'790'000'100'000);  // the other node's, later than this one's
}

TEST(ChatService, EditsAreTheSendersAndAnnounced) {
  ServiceFixture f;
  const auto alice = f.user("alice"), bob = f.user("bob");
  const auto conv = f.send_to(alice, "bob", "c1")->msg.conv;
  EXPECT_EQ(f.service.change_message(bob, conv, 1, "mine now").error().code, Errc::forbidden);
  EXPECT_EQ(f.service.change_message(alice, conv, 1, "").error().code, Errc::bad_request);
  auto edited = f.service.change_message(alice, conv, 1, "edited");
  ASSERT_TRUE(edited.ok());
  auto updates = events_of<MessageUpdatedEvent>(f.bus);
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].first->msg.body, "edited");
  auto changes = f.service.changes(bob, conv, 0, std::nullopt);
  ASSERT_EQ(changes->messages.size(), 1u);
  EXPECT_EQ(changes->messages[0].rev, 1);
}

}  // namespace
}  // namespace parley::testing

namespace parley::testing {
namespace {

TEST(ChatService, SendsResolveFromMemoryOnceTheStoreHasBeenAsked) {
  ServiceFixture f;
  const auto alice = f.user("alice");
  f.user("bob");
  const auto eve = f.user("eve");
  SendRequest dm{std::nullopt, "bob", "c1", "hi", std::nullopt};
  EXPECT_FALSE(f.service.try_prepare_send(alice, dm).has_value());  // first time: the store
  EXPECT_EQ(dm.body, "hi");  // untouched, for prepare_send
  ASSERT_TRUE(f.send(alice, dm).ok());
  auto fast = f.service.try_prepare_send(alice, dm);
  ASSERT_TRUE(fast.has_value() && fast->ok());
  const auto conv = (*fast)->conv;

  // Authorization holds on the fast path too, and bad input is refused there.
  SendRequest intrusion{conv, std::nullopt, "e1", "x", std::nullopt};
  auto refused = f.service.try_prepare_send(eve, intrusion);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ((*refused).error().code, Errc::not_member);
  SendRequest empty{conv, std::nullopt, "", "x", std::nullopt};
  EXPECT_EQ((*f.service.try_prepare_send(alice, empty)).error().code, Errc::bad_request);
  // What needs the store is left to prepare_send.
  SendRequest reply{conv, std::nullopt, "c2", "x", 1};
  EXPECT_FALSE(f.service.try_prepare_send(alice, reply).has_value());
}

}  // namespace
}  // namespace parley::testing
