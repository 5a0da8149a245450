// The PushCatalog contract (store/push_catalog.hpp), run on every Store of the Store contract
// (each implements the role): subscriptions per login session (replaced, capped, removed, gone
// with the session), bursts noted for subscribed members but the sender, claims leased once,
// finishing into one job per device exactly once, retries, mute.
#include <algorithm>
#include <gtest/gtest.h>

#include "contract/store_contract.hpp"
#include "core/ids.hpp"
#include "store/account_catalog.hpp"
#include "store/push_catalog.hpp"

namespace parley::testing {
namespace {

using namespace chat;

constexpr TimeMs kNow = 1'790'000'000'000;

struct Push {
  std::shared_ptr<Store> store;
  PushCatalog& catalog;
  AccountCatalog& accounts;
  SeededIdGenerator ids{13};

  explicit Push(const StoreFactory& f)
      : store(f.make()),
        catalog(dynamic_cast<PushCatalog&>(*store)),
        accounts(dynamic_cast<AccountCatalog&>(*store)) {}

  UserId user(const std::string& name) { return store->create_user(name, "h", kNow)->id; }
  SessionId session(UserId user) {
    static int n = 0;
    return *accounts.create_session(user, "dev", "password", "hash-" + std::to_string(++n), kNow);
  }
  PushSubscription subscribe(UserId user, SessionId session, const std::string& endpoint,
                             int cap = 10) {
    PushSubscription s;
    s.user_id = user;
    s.session_id = session;
    s.kind = PushSubscription::Kind::web_push;
    s.endpoint = endpoint;
    s.key = "key";
    s.secret = "secret";
    s.created_at = kNow;
    auto stored = catalog.put_push_subscription(s, cap);
    EXPECT_TRUE(stored.ok()) << (stored.ok() ? "" : stored.error().message);
    return stored.ok() ? *stored : s;
  }
  ConvId group(UserId owner, std::vector<UserId> members) {
    NewGroup g{ids.uuid_v7(kNow), "team", owner, "", std::move(members), kNow, false};
    return store->create_group(g)->id;
  }
};

TEST_P(StoreContract, PushSubscriptionsArePerSessionCappedAndEndWithTheSession) {
  Push f(GetParam());
  const auto alice = f.user("alice"), bob = f.user("bob");
  const auto phone = f.session(alice), laptop = f.session(alice), bobs = f.session(bob);
  const auto first = f.subscribe(alice, phone, "https://push.example/1");
  EXPECT_GT(first.id, 0);
  // The same session subscribing again replaces its subscription.
  const auto second = f.subscribe(alice, phone, "https://push.example/2");
  auto listed = f.catalog.push_subscriptions_of(alice);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, second.id);
  EXPECT_EQ((*listed)[0].endpoint, "https://push.example/2");
  EXPECT_EQ((*listed)[0].session_id, phone);
  EXPECT_EQ((*listed)[0].key, "key");
  EXPECT_EQ((*listed)[0].secret, "secret");
  // Past the cap: refused, nothing changes.
  PushSubscription extra = second;
  extra.session_id = laptop;
  extra.endpoint = "https://push.example/3";
  EXPECT_EQ(f.catalog.put_push_subscription(extra, 1).error().code, Errc::too_large);
  EXPECT_EQ(f.catalog.push_subscriptions_of(alice)->size(), 1u);
  // The same endpoint under another user's session moves to them (one browser profile).
  f.subscribe(bob, bobs, "https://push.example/2");
  EXPECT_TRUE(f.catalog.push_subscriptions_of(alice)->empty());
  ASSERT_EQ(f.catalog.push_subscriptions_of(bob)->size(), 1u);
  // Removal: only the owner's; then gone.
  const auto laptop_sub = f.subscribe(alice, laptop, "https://push.example/4");
  EXPECT_EQ(f.catalog.remove_push_subscription(bob, laptop_sub.id).error().code, Errc::not_found);
  EXPECT_TRUE(f.catalog.remove_push_subscription(alice, laptop_sub.id).ok());
  EXPECT_EQ(f.catalog.remove_push_subscription(alice, laptop_sub.id).error().code, Errc::not_found);
  // A revoked session takes its subscription (and its jobs) with it.
  f.subscribe(alice, phone, "https://push.example/5");
  const auto conv = f.group(bob, {alice});
  const PushNote note{conv, 1, bob};
  ASSERT_EQ(*f.catalog.note_for_push({&note, 1}, kNow, kNow, false), 1);
  ASSERT_EQ(f.catalog.claim_due_pushes(kNow, kNow + 1000, 10)->size(), 1u);
  ASSERT_EQ(*f.catalog.finish_push(alice, conv, kNow + 1000, 1, "{}", kNow, kNow + 60'000, kNow), 1);
  EXPECT_EQ(f.catalog.push_backlog()->second, 1);
  ASSERT_TRUE(f.accounts.revoke_session(alice, phone, kNow).ok());
  EXPECT_TRUE(f.catalog.push_subscriptions_of(alice)->empty());
  EXPECT_EQ(f.catalog.push_backlog()->second, 0);
  EXPECT_TRUE(f.catalog.drop_push_subscription(first.id).ok());  // gone already: fine
  EXPECT_EQ(f.catalog.push_subscriptions_of(bob)->size(), 1u);  // and no other (ids never reused)
  // A revoked session cannot subscribe (a subscribe that raced the logout).
  PushSubscription late = first;
  late.endpoint = "https://push.example/late";
  EXPECT_EQ(f.catalog.put_push_subscription(late, 10).error().code, Errc::unauthenticated);
  // One webhook gateway serves many devices, told apart by their keys.
  PushSubscription hook;
  hook.kind = PushSubscription::Kind::webhook;
  hook.endpoint = "https://gateway.example/_notify";
  hook.created_at = kNow;
  for (auto [user, key] : {std::pair{alice, "a-phone"}, {bob, "b-phone"}}) {
    hook.user_id = user;
    hook.session_id = f.session(user);
    hook.key = key;
    ASSERT_TRUE(f.catalog.put_push_subscription(hook, 10).ok());
  }
  EXPECT_EQ(f.catalog.push_subscriptions_of(alice)->size(), 1u);
  EXPECT_EQ(f.catalog.push_subscriptions_of(bob)->size(), 2u);
}

TEST_P(StoreContract, PushBurstsAreNotedClaimedOnceAndFinishedIntoOneJobPerDevice) {
  Push f(GetParam());
  const auto alice = f.user("alice"), bob = f.user("bob"), carol = f.user("carol");
  const auto conv = f.group(alice, {bob, carol});
  const auto phone = f.subscribe(bob, f.session(bob), "https://push.example/phone");
  const auto laptop = f.subscribe(bob, f.session(bob), "https://push.example/laptop");
  // Bob is subscribed, carol not, and a sender is never noted for their own message.
  const PushNote first{conv, 1, alice};
  EXPECT_EQ(*f.catalog.note_for_push({&first, 1}, kNow, kNow + 1000, false), 1);
  const PushNote own{conv, 2, bob};
  EXPECT_EQ(*f.catalog.note_for_push({&own, 1}, kNow + 1, kNow + 2000, false), 0);
  const PushNote third{conv, 3, carol};
  EXPECT_EQ(*f.catalog.note_for_push({&third, 1}, kNow + 2, kNow + 3000, false), 1);
  EXPECT_EQ(*f.catalog.note_for_push({&third, 1}, kNow + 2, kNow + 3000, false), 0);  // replayed
  // Not due before the burst's first due time, which later notes do not move.
  EXPECT_TRUE(f.catalog.claim_due_pushes(kNow + 999, kNow + 5000, 10)->empty());
  auto due = f.catalog.claim_due_pushes(kNow + 1000, kNow + 5000, 10);
  ASSERT_EQ(due->size(), 1u);
  const auto& p = (*due)[0];
  EXPECT_EQ(p.user_id, bob);
  EXPECT_EQ(p.conv, conv);
  EXPECT_EQ(p.pending_from, 1);
  EXPECT_EQ(p.pending_to, 3);
  EXPECT_EQ(p.count, 2);
  EXPECT_EQ(p.first_noted_at, kNow);
  EXPECT_EQ(p.muted_until, 0);
  EXPECT_EQ(p.delivered_seq, 0);
  // Leased: nobody else gets it until the lease ends.
  EXPECT_TRUE(f.catalog.claim_due_pushes(kNow + 1001, kNow + 5000, 10)->empty());
  // A message noted meanwhile stays pending after the finish, as a burst of its own.
  const PushNote fourth{conv, 4, alice};
  EXPECT_EQ(*f.catalog.note_for_push({&fourth, 1}, kNow + 3, kNow + 4000, false), 1);
  // A node whose lease ran out changes nothing.
  EXPECT_EQ(*f.catalog.finish_push(bob, conv, kNow + 4999, 3, "{}", kNow + 1001, kNow + 60'000,
                                   kNow + 1002), 0);
  EXPECT_EQ(*f.catalog.finish_push(bob, conv, p.lease, 3, R"({"n":3})", kNow + 1001, kNow + 60'000,
                                   kNow + 1002), 2);
  // Finished: a second finish (a node that claimed it after a lost lease) adds nothing.
  EXPECT_EQ(*f.catalog.finish_push(bob, conv, 0, 3, R"({"n":3})", kNow + 1001, kNow + 60'000,
                                   kNow + 1002), 0);
  EXPECT_EQ(*f.catalog.note_for_push({&third, 1}, kNow + 5, kNow + 5000, false), 0);  // pushed already
  // The leftover burst is first noted at the finish and due when it said.
  EXPECT_TRUE(f.catalog.claim_due_pushes(kNow + 1001, kNow + 5000, 10)->empty());
  due = f.catalog.claim_due_pushes(kNow + 1002, kNow + 5000, 10);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].pending_from, 4);
  EXPECT_EQ((*due)[0].pending_to, 4);
  EXPECT_EQ((*due)[0].count, 1);
  EXPECT_EQ((*due)[0].first_noted_at, kNow + 1001);
  // Nothing to send (say, delivered meanwhile): the burst ends without a job.
  EXPECT_EQ(*f.catalog.finish_push(bob, conv, (*due)[0].lease, 4, "", kNow + 1002, kNow + 60'000,
                                   kNow + 1002), 0);
  EXPECT_EQ(*f.catalog.push_backlog(), (std::pair<std::int64_t, std::int64_t>{0, 2}));

  // The jobs: one per device, with the subscription to send to.
  constexpr unsigned kAll = 7;
  // A node that does not send Web Push leaves these jobs alone.
  EXPECT_TRUE(f.catalog.claim_push_jobs(kNow + 1001, kNow + 9000, 10,
                                        push_kind_bit(PushSubscription::Kind::fcm))->empty());
  auto jobs = f.catalog.claim_push_jobs(kNow + 1001, kNow + 9000, 10, kAll);
  ASSERT_EQ(jobs->size(), 2u);
  for (const auto& j : *jobs) {
    EXPECT_EQ(j.conv, conv);
    EXPECT_EQ(j.seq, 3);
    EXPECT_EQ(j.payload, R"({"n":3})");
    EXPECT_EQ(j.attempts, 0);
    EXPECT_EQ(j.expires_at, kNow + 60'000);
    EXPECT_EQ(j.lease, kNow + 9000);
    EXPECT_EQ(j.subscription.user_id, bob);
    EXPECT_TRUE(j.subscription.id == phone.id || j.subscription.id == laptop.id);
    EXPECT_EQ(j.subscription.endpoint,
              j.subscription.id == phone.id ? phone.endpoint : laptop.endpoint);
  }
  EXPECT_TRUE(f.catalog.claim_push_jobs(kNow + 1002, kNow + 9000, 10, kAll)->empty());  // leased
  ASSERT_TRUE(f.catalog.finish_push_job(phone.id, conv, 3).ok());
  // Renewed while it waits; a stale lease renews and reschedules nothing.
  EXPECT_TRUE(*f.catalog.renew_push_job(laptop.id, conv, 3, kNow + 9000, kNow + 12'000));
  EXPECT_FALSE(*f.catalog.renew_push_job(laptop.id, conv, 3, kNow + 9000, kNow + 13'000));
  ASSERT_TRUE(f.catalog.reschedule_push_job(laptop.id, conv, 3, kNow + 9000, kNow, true).ok());
  EXPECT_TRUE(f.catalog.claim_push_jobs(kNow + 11'999, kNow + 30'000, 10, kAll)->empty());
  ASSERT_TRUE(f.catalog.reschedule_push_job(laptop.id, conv, 3, kNow + 12'000, kNow + 20'000, true).ok());
  EXPECT_TRUE(f.catalog.claim_push_jobs(kNow + 19'999, kNow + 30'000, 10, kAll)->empty());
  jobs = f.catalog.claim_push_jobs(kNow + 20'000, kNow + 30'000, 10, kAll);
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].subscription.id, laptop.id);
  EXPECT_EQ((*jobs)[0].attempts, 1);
  // Leases end at once when the embedded node restarts.
  ASSERT_TRUE(f.catalog.release_push_leases().ok());
  jobs = f.catalog.claim_push_jobs(kNow + 20'001, kNow + 30'000, 10, kAll);
  ASSERT_EQ(jobs->size(), 1u);
  // Put back without a failed attempt (its service was busy).
  ASSERT_TRUE(f.catalog.reschedule_push_job(laptop.id, conv, 3, kNow + 30'000, kNow + 20'001, false).ok());
  jobs = f.catalog.claim_push_jobs(kNow + 20'001, kNow + 30'000, 10, kAll);
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].attempts, 1);
  ASSERT_TRUE(f.catalog.finish_push_job(laptop.id, conv, 3).ok());
  EXPECT_EQ(*f.catalog.push_backlog(), (std::pair<std::int64_t, std::int64_t>{0, 0}));
}

TEST_P(StoreContract, PushMuteIsPerMemberAndConversation) {
  Push f(GetParam());
  const auto alice = f.user("alice"), bob = f.user("bob"), eve = f.user("eve");
  const auto conv = f.group(alice, {bob});
  f.subscribe(bob, f.session(bob), "https://push.example/bob");
  EXPECT_EQ(f.catalog.set_push_mute(eve, conv, kNow + 10).error().code, Errc::not_found);
  EXPECT_EQ(*f.catalog.push_mute(bob, conv), 0);
  ASSERT_TRUE(f.catalog.set_push_mute(bob, conv, kNow + 60'000).ok());
  EXPECT_EQ(*f.catalog.push_mute(bob, conv), kNow + 60'000);
  EXPECT_EQ(*f.catalog.push_mute(alice, conv), 0);
  // Noting keeps the mute; the claim tells it.
  const PushNote note{conv, 1, alice};
  EXPECT_EQ(*f.catalog.note_for_push({&note, 1}, kNow, kNow, false), 1);
  auto due = f.catalog.claim_due_pushes(kNow, kNow + 1000, 10);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].muted_until, kNow + 60'000);
  ASSERT_TRUE(f.catalog.set_push_mute(bob, conv, 0).ok());
  EXPECT_EQ(*f.catalog.push_mute(bob, conv), 0);
  // A member who left: the claim says so.
  const PushNote second{conv, 2, alice};
  EXPECT_FALSE(*f.catalog.postpone_push(bob, conv, kNow + 999, kNow));  // not the lease
  EXPECT_TRUE(*f.catalog.postpone_push(bob, conv, (*due)[0].lease, kNow));
  ASSERT_TRUE(f.store->remove_member(conv, bob, kNow).ok());
  EXPECT_EQ(*f.catalog.note_for_push({&second, 1}, kNow, kNow, false), 0);  // no longer a member
  due = f.catalog.claim_due_pushes(kNow + 1, kNow + 1000, 10);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_FALSE((*due)[0].delivered_seq.has_value());
}

TEST_P(StoreContract, PushNotesOfOneBatchCountForEveryMemberButEachMessagesSender) {
  Push f(GetParam());
  const auto alice = f.user("alice"), bob = f.user("bob"), carol = f.user("carol"),
             dave = f.user("dave");
  const auto team = f.group(alice, {bob, carol});
  const auto quiet = f.group(alice, {dave});  // nobody in it has a subscription
  f.subscribe(bob, f.session(bob), "https://push.example/bob");
  f.subscribe(carol, f.session(carol), "https://push.example/carol");
  // As the log hands them over: conversations interleaved, senders mixed.
  const PushNote batch[] = {{team, 1, alice}, {quiet, 1, alice}, {team, 2, bob},
                            {team, 3, carol}, {quiet, 2, dave},  {team, 4, alice}};
  // bob: 1, 3, 4; carol: 1, 2, 4; dave and alice have no subscription.
  EXPECT_EQ(*f.catalog.note_for_push(batch, kNow, kNow + 1000, false), 6);
  EXPECT_EQ(*f.catalog.note_for_push(batch, kNow, kNow + 1000, false), 0);  // replayed
  auto due = f.catalog.claim_due_pushes(kNow + 1000, kNow + 5000, 10);
  ASSERT_EQ(due->size(), 2u);
  std::sort(due->begin(), due->end(), [](const auto& a, const auto& b) { return a.user_id < b.user_id; });
  for (const auto& p : *due) {
    EXPECT_EQ(p.conv, team);
    EXPECT_EQ(p.pending_from, 1);
    EXPECT_EQ(p.pending_to, 4);
    EXPECT_EQ(p.count, 3);
  }
  EXPECT_EQ((*due)[0].user_id, std::min(bob, carol));
  EXPECT_EQ((*due)[1].user_id, std::max(bob, carol));
}

TEST_P(StoreContract, PushNotesAtCommitWhereTheStoreCan) {
  Push f(GetParam());
  const auto alice = f.user("alice"), bob = f.user("bob"), carol = f.user("carol");
  const auto conv = f.group(alice, {bob, carol});
  f.subscribe(bob, f.session(bob), "https://push.example/bob");
  if (!f.catalog.note_at_commit(std::chrono::milliseconds(1000))) {
    GTEST_SKIP() << "this store's commit is a journal record: the dispatcher notes";
  }
  auto send = [&](UserId from, const std::string& id, TimeMs now) {
    const NewMessage m{conv, from, "", id, "hi", std::nullopt};
    ASSERT_TRUE(f.store->append_messages({&m, 1}, now, f.ids, {})[0].ok());
  };
  // Noted with the message, for bob (subscribed; not for his own message), not for carol.
  send(alice, "1", kNow);
  send(bob, "2", kNow + 10);
  send(carol, "3", kNow + 20);
  const NewMessage retry{conv, alice, "", "1", "hi", std::nullopt};  // a duplicate: not noted
  ASSERT_TRUE(f.store->append_messages({&retry, 1}, kNow + 30, f.ids, {})[0]->duplicate);
  EXPECT_TRUE(f.catalog.claim_due_pushes(kNow + 999, kNow + 5000, 10)->empty());
  auto due = f.catalog.claim_due_pushes(kNow + 1000, kNow + 5000, 10);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].user_id, bob);
  EXPECT_EQ((*due)[0].pending_from, 1);
  EXPECT_EQ((*due)[0].pending_to, 3);
  EXPECT_EQ((*due)[0].count, 2);
  EXPECT_EQ((*due)[0].first_noted_at, kNow);
  // A batch of several messages counts each (one statement for the whole batch).
  ASSERT_EQ(*f.catalog.finish_push(bob, conv, (*due)[0].lease, 3, "", kNow + 1000, kNow + 1000,
                                   kNow + 1000), 0);
  const NewMessage batch[] = {{conv, alice, "", "4", "a", std::nullopt},
                              {conv, carol, "", "5", "b", std::nullopt},
                              {conv, bob, "", "6", "c", std::nullopt}};
  for (const auto& r : f.store->append_messages(batch, kNow + 2000, f.ids, {})) ASSERT_TRUE(r.ok());
  due = f.catalog.claim_due_pushes(kNow + 3000, kNow + 9000, 10);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].pending_from, 4);
  EXPECT_EQ((*due)[0].pending_to, 5);
  EXPECT_EQ((*due)[0].count, 2);
}

TEST_P(StoreContract, PushRecordsTheNewestMessageNoted) {
  Push f(GetParam());
  const auto alice = f.user("alice"), bob = f.user("bob");
  const auto conv = f.group(alice, {bob});
  EXPECT_EQ(*f.catalog.push_noted_up_to(), "");
  // Ids are UUIDv7 text: the newest of a batch is kept, whoever was noted.
  const PushNote batch[] = {{conv, 2, alice, "0190b3c4-0002-7000-8000-000000000000"},
                            {conv, 1, alice, "0190b3c4-0001-7000-8000-000000000000"}};
  EXPECT_EQ(*f.catalog.note_for_push(batch, kNow, kNow, true), 0);  // nobody subscribed
  EXPECT_EQ(*f.catalog.push_noted_up_to(), "0190b3c4-0002-7000-8000-000000000000");
  // An older one (a re-note after a restart) does not move it back; without the flag, nothing.
  const PushNote older{conv, 1, alice, "0190b3c4-0001-7000-8000-000000000000"};
  ASSERT_TRUE(f.catalog.note_for_push({&older, 1}, kNow, kNow, true).ok());
  const PushNote newer{conv, 3, alice, "0190b3c4-0003-7000-8000-000000000000"};
  ASSERT_TRUE(f.catalog.note_for_push({&newer, 1}, kNow, kNow, false).ok());
  EXPECT_EQ(*f.catalog.push_noted_up_to(), "0190b3c4-0002-7000-8000-000000000000");
}

}  // namespace
}  // namespace parley::testing
