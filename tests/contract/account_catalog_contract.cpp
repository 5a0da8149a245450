// The AccountCatalog contract (store/account_catalog.hpp), run on every Store of the Store
// contract (each implements the role): refresh tokens that rotate once, sessions listed and
// revoked by their owner only, logout everywhere.
#include <gtest/gtest.h>

#include "contract/store_contract.hpp"
#include "store/account_catalog.hpp"

namespace parley::testing {
namespace {

using namespace chat;

constexpr TimeMs kNow = 1'790'000'000'000;

struct Accounts {
  std::shared_ptr<Store> store;
  AccountCatalog& catalog;

  explicit Accounts(const StoreFactory& f)
      : store(f.make()), catalog(dynamic_cast<AccountCatalog&>(*store)) {}

  UserId user(const std::string& name) { return store->create_user(name, "h", kNow)->id; }
  SessionId session(UserId user, const std::string& hash, TimeMs at = kNow,
                    const std::string& provider = "password") {
    auto id = catalog.create_session(user, "device-" + hash, provider, hash, at);
    EXPECT_TRUE(id.ok());
    return id.ok() ? *id : 0;
  }
};

TEST_P(StoreContract, RefreshRotationWorksOnceAndRevocationEndsIt) {
  Accounts f(GetParam());
  const auto alice = f.user("alice");
  const auto session = f.session(alice, "hash-1");

  auto rotated = f.catalog.rotate_refresh("hash-1", "hash-2", kNow + 10, kNow - 1000);
  ASSERT_TRUE(rotated.ok());
  EXPECT_EQ(rotated->id, session);
  EXPECT_EQ(rotated->user_id, alice);
  EXPECT_EQ(rotated->username, "alice");
  // The old refresh token is spent.
  EXPECT_EQ(f.catalog.rotate_refresh("hash-1", "hash-3", kNow + 20, kNow - 1000).error().code,
            Errc::not_found);
  // Unused for too long: expired.
  EXPECT_FALSE(f.catalog.rotate_refresh("hash-2", "hash-3", kNow + 20, kNow + 15).ok());

  ASSERT_TRUE(f.catalog.revoke_session(alice, session, kNow + 30).ok());
  EXPECT_FALSE(f.catalog.rotate_refresh("hash-2", "hash-3", kNow + 40, kNow - 1000).ok());
  auto revoked = f.catalog.sessions_revoked_since(kNow);
  ASSERT_TRUE(revoked.ok());
  EXPECT_EQ(*revoked, std::vector<SessionId>{session});
}

TEST_P(StoreContract, SessionsAreListedNewestUseFirstWithDeviceAndProvider) {
  Accounts f(GetParam());
  const auto alice = f.user("alice"), bob = f.user("bob");
  const auto phone = f.session(alice, "h-phone", kNow);
  const auto laptop = f.session(alice, "h-laptop", kNow + 5, "google");
  const auto stale = f.session(alice, "h-stale", kNow - 100'000);
  f.session(bob, "h-bob");
  ASSERT_TRUE(f.catalog.rotate_refresh("h-phone", "h-phone-2", kNow + 10, kNow - 1000).ok());

  auto listed = f.catalog.sessions_of(alice, kNow - 1000);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);  // not bob's, not the one unused past the refresh lifetime
  EXPECT_EQ((*listed)[0].id, phone);  // used last (its refresh)
  EXPECT_EQ((*listed)[0].device, "device-h-phone");
  EXPECT_EQ((*listed)[0].provider, "password");
  EXPECT_EQ((*listed)[0].created_at, kNow);
  EXPECT_EQ((*listed)[0].last_used_at, kNow + 10);
  EXPECT_EQ((*listed)[1].id, laptop);
  EXPECT_EQ((*listed)[1].provider, "google");
  EXPECT_NE(stale, 0);
}

TEST_P(StoreContract, OnlyTheOwnerRevokesASessionAndOnlyOnce) {
  Accounts f(GetParam());
  const auto alice = f.user("alice"), bob = f.user("bob");
  const auto session = f.session(alice, "h-1");
  EXPECT_EQ(f.catalog.revoke_session(bob, session, kNow + 1).error().code, Errc::not_found);
  EXPECT_EQ(f.catalog.revoke_session(alice, session + 1000, kNow + 1).error().code,
            Errc::not_found);
  EXPECT_TRUE(f.catalog.sessions_revoked_since(kNow)->empty());  // the refusals changed nothing
  ASSERT_TRUE(f.catalog.revoke_session(alice, session, kNow + 2).ok());
  EXPECT_EQ(f.catalog.revoke_session(alice, session, kNow + 3).error().code, Errc::not_found);
  EXPECT_TRUE(f.catalog.sessions_of(alice, 0)->empty());
}

TEST_P(StoreContract, RevokeAllEndsEverySessionOfOneUserOnly) {
  Accounts f(GetParam());
  const auto alice = f.user("alice"), bob = f.user("bob");
  const auto a1 = f.session(alice, "h-a1"), a2 = f.session(alice, "h-a2");
  const auto b1 = f.session(bob, "h-b1");
  ASSERT_TRUE(f.catalog.revoke_session(alice, a1, kNow + 1).ok());
  auto revoked = f.catalog.revoke_all_sessions(alice, kNow + 2);
  ASSERT_TRUE(revoked.ok());
  EXPECT_EQ(*revoked, std::vector<SessionId>{a2});  // a1 was revoked already
  EXPECT_TRUE(f.catalog.sessions_of(alice, 0)->empty());
  auto bobs = f.catalog.sessions_of(bob, 0);
  ASSERT_EQ(bobs->size(), 1u);
  EXPECT_EQ((*bobs)[0].id, b1);
  EXPECT_TRUE(f.catalog.revoke_all_sessions(alice, kNow + 3)->empty());
}

ExternalProfile profile(const std::string& provider, const std::string& subject,
                        const std::string& hint, const std::string& email = "") {
  return ExternalProfile{provider, subject, hint, "Name " + subject, email,
                         "https://img.example.test/" + subject};
}

TEST_P(StoreContract, AnExternalUserIsCreatedOncePerIdentityWithTheProfilesFields) {
  Accounts f(GetParam());
  EXPECT_FALSE(f.catalog.find_identity("google", "g-1")->has_value());
  auto made = f.catalog.create_external_user(profile("google", "g-1", "carol", "c@example.test"),
                                             kNow);
  ASSERT_TRUE(made.ok()) << made.error().message;
  EXPECT_EQ(made->username, "carol");
  EXPECT_EQ(made->name, "Name g-1");
  EXPECT_EQ(made->email, "c@example.test");
  EXPECT_EQ(made->image, "https://img.example.test/g-1");
  EXPECT_EQ(made->provider, "google");
  EXPECT_EQ(made->oauth_id, "g-1");
  EXPECT_EQ(f.store->get_user(made->id)->email, "c@example.test");
  EXPECT_EQ(**f.catalog.find_identity("google", "g-1"), made->id);
  EXPECT_EQ(**f.catalog.find_user_by_email("c@example.test"), made->id);
  EXPECT_FALSE(f.catalog.find_user_by_email("nobody@example.test")->has_value());
  // The same identity again (another node raced this one): the account that exists.
  EXPECT_EQ(f.catalog.create_external_user(profile("google", "g-1", "other"), kNow)->id, made->id);
  // No password: a password login finds no hash to check.
  EXPECT_EQ(f.store->find_credentials("carol")->password_hash, "");
}

TEST_P(StoreContract, AnExternalUsersUsernameAndEmailNeverTakeAnothersOwn) {
  Accounts f(GetParam());
  f.user("carol");
  auto first = f.catalog.create_external_user(profile("a", "1", "carol", "c@example.test"), kNow);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->username, "carol2");
  auto second = f.catalog.create_external_user(profile("b", "2", "car ol!", "c@example.test"), kNow);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->username, "carol3");  // sanitized, then numbered
  EXPECT_EQ(second->email, "");           // the address is the first one's
  EXPECT_EQ(f.catalog.create_external_user(profile("c", "3", "!"), kNow)->username, "user");
}

TEST_P(StoreContract, AnIdentityLinksToOneUserOnly) {
  Accounts f(GetParam());
  const auto alice = f.user("alice"), bob = f.user("bob");
  ASSERT_TRUE(f.catalog.link_identity(alice, "google", "g-9", kNow).ok());
  EXPECT_EQ(**f.catalog.find_identity("google", "g-9"), alice);
  EXPECT_EQ(f.catalog.link_identity(bob, "google", "g-9", kNow).error().code, Errc::conflict);
  EXPECT_EQ(**f.catalog.find_identity("google", "g-9"), alice);
  EXPECT_FALSE(f.catalog.find_identity("other", "g-9")->has_value());  // per provider
}

TEST_P(StoreContract, ASecondFactorIsConfirmedOnceAndItsCodesWorkOnce) {
  Accounts f(GetParam());
  const auto alice = f.user("alice");
  EXPECT_FALSE(f.catalog.second_factor(alice)->has_value());
  EXPECT_EQ(f.catalog.confirm_second_factor(alice, 10, {}).error().code, Errc::not_found);
  ASSERT_TRUE(f.catalog.begin_second_factor(alice, "secret-1", kNow).ok());
  ASSERT_TRUE(f.catalog.begin_second_factor(alice, "secret-2", kNow).ok());  // replaced
  EXPECT_FALSE(*f.catalog.use_totp_step(alice, 11));  // not confirmed: no code works
  auto pending = f.catalog.second_factor(alice);
  ASSERT_TRUE(pending->has_value());
  EXPECT_EQ((*pending)->secret, "secret-2");
  EXPECT_FALSE((*pending)->confirmed);

  ASSERT_TRUE(f.catalog.confirm_second_factor(alice, 10, {"hash-a", "hash-b"}).ok());
  auto on = f.catalog.second_factor(alice);
  EXPECT_TRUE((*on)->confirmed);
  EXPECT_EQ((*on)->last_step, 10);
  EXPECT_EQ(f.catalog.begin_second_factor(alice, "secret-3", kNow).error().code, Errc::conflict);
  EXPECT_EQ((*f.catalog.second_factor(alice))->secret, "secret-2");  // the refusal changed nothing

  EXPECT_FALSE(*f.catalog.use_totp_step(alice, 10));  // the confirming code's step is spent
  EXPECT_TRUE(*f.catalog.use_totp_step(alice, 11));
  EXPECT_FALSE(*f.catalog.use_totp_step(alice, 11));
  EXPECT_FALSE(*f.catalog.use_totp_step(alice, 9));
  EXPECT_TRUE(*f.catalog.use_recovery_code(alice, "hash-a", kNow));
  EXPECT_FALSE(*f.catalog.use_recovery_code(alice, "hash-a", kNow));
  EXPECT_FALSE(*f.catalog.use_recovery_code(alice, "hash-z", kNow));
  EXPECT_FALSE(*f.catalog.use_recovery_code(f.user("bob"), "hash-b", kNow));  // alice's only

  ASSERT_TRUE(f.catalog.remove_second_factor(alice).ok());
  EXPECT_FALSE(f.catalog.second_factor(alice)->has_value());
  EXPECT_FALSE(*f.catalog.use_recovery_code(alice, "hash-b", kNow));
  EXPECT_TRUE(f.catalog.begin_second_factor(alice, "secret-4", kNow).ok());
}

}  // namespace
}  // namespace parley::testing
