// The DeviceCatalog contract (store/device_catalog.hpp), run on every Store of the Store contract
// (each implements the role): devices replaced in place, the per-user cap, one-time prekeys
// handed out once each, removal; and the e2ee flag of conversations.
#include <gtest/gtest.h>

#include <set>

#include "contract/store_contract.hpp"
#include "core/ids.hpp"
#include "store/device_catalog.hpp"

namespace parley::testing {
namespace {

using namespace chat;

constexpr TimeMs kNow = 1'790'000'000'000;

struct Devices {
  std::shared_ptr<Store> store;
  DeviceCatalog& catalog;
  SeededIdGenerator ids{11};

  explicit Devices(const StoreFactory& f)
      : store(f.make()), catalog(dynamic_cast<DeviceCatalog&>(*store)) {}

  UserId user(const std::string& name) { return store->create_user(name, "h", kNow)->id; }
  static DeviceKeys keys(UserId user, const std::string& device, const std::string& identity,
                         TimeMs at = kNow) {
    DeviceKeys d;
    d.user_id = user;
    d.device = device;
    d.identity_key = identity;
    d.dh_key = "dh-" + device;
    d.dh_signature = "dhsig-" + device;
    d.signed_prekey_id = 1;
    d.signed_prekey = "spk-" + device;
    d.signed_prekey_signature = "spksig-" + device;
    d.created_at = at;
    return d;
  }
  static std::vector<OneTimePrekey> prekeys(std::int64_t first, std::int64_t n) {
    std::vector<OneTimePrekey> out;
    for (auto id = first; id < first + n; ++id) out.push_back({id, "otk-" + std::to_string(id)});
    return out;
  }
};

TEST_P(StoreContract, DevicesArePublishedReplacedAndCappedPerUser) {
  Devices f(GetParam());
  const auto alice = f.user("alice"), bob = f.user("bob");
  EXPECT_TRUE(*f.catalog.put_device(Devices::keys(alice, "phone", "id-1"), 2));
  EXPECT_TRUE(*f.catalog.put_device(Devices::keys(alice, "laptop", "id-2", kNow + 1), 2));
  // A third device is past the cap; replacing one is not.
  EXPECT_EQ(f.catalog.put_device(Devices::keys(alice, "tablet", "id-3"), 2).error().code,
            Errc::too_large);
  auto replaced = Devices::keys(alice, "phone", "id-1", kNow + 5);
  replaced.signed_prekey_id = 2;
  replaced.signed_prekey = "spk-new";
  EXPECT_FALSE(*f.catalog.put_device(replaced, 2));
  EXPECT_TRUE(*f.catalog.put_device(Devices::keys(bob, "phone", "id-b"), 2));  // bob's own

  auto devices = f.catalog.devices_of(alice, false);
  ASSERT_TRUE(devices.ok());
  ASSERT_EQ(devices->size(), 2u);
  EXPECT_EQ((*devices)[0].device, "phone");  // oldest first: a replaced device keeps its age
  EXPECT_EQ((*devices)[0].created_at, kNow);
  EXPECT_EQ((*devices)[0].signed_prekey_id, 2);
  EXPECT_EQ((*devices)[0].signed_prekey, "spk-new");
  EXPECT_EQ((*devices)[1].device, "laptop");
  EXPECT_EQ((*devices)[1].identity_key, "id-2");
  EXPECT_TRUE(f.catalog.devices_of(f.user("carol"), true)->empty());
}

TEST_P(StoreContract, OneTimePrekeysAreHandedOutOnceEach) {
  Devices f(GetParam());
  const auto alice = f.user("alice");
  ASSERT_TRUE(f.catalog.put_device(Devices::keys(alice, "phone", "id-1"), 8).ok());
  EXPECT_EQ(f.catalog.add_one_time_prekeys(alice, "nosuch", Devices::prekeys(1, 1), 10).error().code,
            Errc::not_found);
  EXPECT_EQ(*f.catalog.add_one_time_prekeys(alice, "phone", Devices::prekeys(1, 3), 10), 3);
  // A retried upload adds nothing; past the cap nothing is added at all.
  EXPECT_EQ(*f.catalog.add_one_time_prekeys(alice, "phone", Devices::prekeys(1, 3), 10), 3);
  EXPECT_EQ(f.catalog.add_one_time_prekeys(alice, "phone", Devices::prekeys(4, 8), 10).error().code,
            Errc::too_large);
  EXPECT_EQ(f.catalog.devices_of(alice, false)->front().one_time_prekeys, 3);

  std::set<std::int64_t> handed;
  for (int i = 0; i < 3; ++i) {
    auto claimed = f.catalog.devices_of(alice, true);
    ASSERT_TRUE(claimed.ok());
    ASSERT_TRUE(claimed->front().one_time_prekey.has_value());
    EXPECT_EQ(claimed->front().one_time_prekeys, 2 - i);
    handed.insert(claimed->front().one_time_prekey->id);
    EXPECT_EQ(claimed->front().one_time_prekey->key,
              "otk-" + std::to_string(claimed->front().one_time_prekey->id));
  }
  EXPECT_EQ(handed, (std::set<std::int64_t>{1, 2, 3}));
  auto empty = f.catalog.devices_of(alice, true);
  ASSERT_EQ(empty->size(), 1u);  // the device still comes, without a prekey
  EXPECT_FALSE(empty->front().one_time_prekey.has_value());
  // Reading without claiming takes none.
  ASSERT_TRUE(f.catalog.add_one_time_prekeys(alice, "phone", Devices::prekeys(9, 2), 10).ok());
  EXPECT_FALSE(f.catalog.devices_of(alice, false)->front().one_time_prekey.has_value());
  EXPECT_EQ(f.catalog.devices_of(alice, false)->front().one_time_prekeys, 2);
}

TEST_P(StoreContract, ANewIdentityDropsTheOldPrekeysAndRemovalDropsEverything) {
  Devices f(GetParam());
  const auto alice = f.user("alice");
  ASSERT_TRUE(f.catalog.put_device(Devices::keys(alice, "phone", "id-1"), 8).ok());
  ASSERT_TRUE(f.catalog.add_one_time_prekeys(alice, "phone", Devices::prekeys(1, 4), 10).ok());
  // The same identity republished (a new signed prekey) keeps them…
  ASSERT_TRUE(f.catalog.put_device(Devices::keys(alice, "phone", "id-1"), 8).ok());
  EXPECT_EQ(f.catalog.devices_of(alice, false)->front().one_time_prekeys, 4);
  // …a new identity (the app reinstalled) does not: they were the old identity's.
  ASSERT_TRUE(f.catalog.put_device(Devices::keys(alice, "phone", "id-2"), 8).ok());
  EXPECT_EQ(f.catalog.devices_of(alice, false)->front().one_time_prekeys, 0);

  ASSERT_TRUE(f.catalog.add_one_time_prekeys(alice, "phone", Devices::prekeys(1, 2), 10).ok());
  ASSERT_TRUE(f.catalog.remove_device(alice, "phone").ok());
  EXPECT_TRUE(f.catalog.devices_of(alice, false)->empty());
  EXPECT_EQ(f.catalog.remove_device(alice, "phone").error().code, Errc::not_found);
  // Published again, it starts with no prekeys.
  ASSERT_TRUE(f.catalog.put_device(Devices::keys(alice, "phone", "id-2"), 8).ok());
  EXPECT_EQ(f.catalog.devices_of(alice, false)->front().one_time_prekeys, 0);
}

TEST_P(StoreContract, ConversationsKeepWhetherTheyAreEndToEndEncrypted) {
  Devices f(GetParam());
  const auto alice = f.user("alice"), bob = f.user("bob"), carol = f.user("carol");
  auto secret = f.store->get_or_create_direct(alice, bob, f.ids.uuid_v7(kNow), kNow, true);
  ASSERT_TRUE(secret.ok());
  EXPECT_TRUE(secret->e2ee);
  // The pair's conversation comes back as it was made, whatever the second call asks.
  EXPECT_TRUE(f.store->get_or_create_direct(bob, alice, f.ids.uuid_v7(kNow), kNow, false)->e2ee);
  EXPECT_FALSE(f.store->get_or_create_direct(alice, carol, f.ids.uuid_v7(kNow), kNow, false)->e2ee);
  NewGroup g{f.ids.uuid_v7(kNow), "secret", alice, "", {bob, carol}, kNow, true};
  ASSERT_TRUE(f.store->create_group(g).ok());
  EXPECT_TRUE(f.store->get_conversation(g.id)->e2ee);
  auto mine = f.store->conversations_of(alice);
  ASSERT_TRUE(mine.ok());
  ASSERT_EQ(mine->size(), 3u);
  int encrypted = 0;
  for (const auto& s : *mine) {
    encrypted += s.conversation.e2ee;
    if (s.conversation.kind == ConvKind::direct) {
      EXPECT_FALSE(s.peer.empty());  // the columns after the conversation's line up
    }
    EXPECT_EQ(s.role, s.conversation.id == g.id ? Role::owner : Role::member);
  }
  EXPECT_EQ(encrypted, 2);
}

}  // namespace
}  // namespace parley::testing
