// The FileCatalog contract (store/file_catalog.hpp), run on every Store of the Store contract
// (each implements both roles): records and quota, and who may read a file through a message.
#include <gtest/gtest.h>

#include "contract/store_contract.hpp"
#include "core/ids.hpp"
#include "store/file_catalog.hpp"

namespace parley::testing {
namespace {

using namespace chat;

constexpr TimeMs kNow = 1'790'000'000'000;

struct Files {
  std::shared_ptr<Store> store;
  FileCatalog& catalog;
  SeededIdGenerator ids{7};

  explicit Files(const StoreFactory& f)
      : store(f.make()), catalog(dynamic_cast<FileCatalog&>(*store)) {}

  UserId user(const std::string& name) { return store->create_user(name, "h", kNow)->id; }
  FileRecord file(UserId owner, std::int64_t size, TimeMs at = kNow) {
    FileRecord f;
    f.id = ids.uuid_v7(at);
    f.owner_id = owner;
    f.name = "n-" + f.id;
    f.mime = "text/plain";
    f.size = size;
    f.sha256 = std::string(64, 'a');
    f.storage_key = "f/" + f.id;
    f.created_at = at;
    return f;
  }
  // A message in conv from sender carrying nothing (the link says what it carries).
  Seq send(const ConvId& conv, UserId sender, const std::string& client_id) {
    NewMessage m{conv, sender, "", client_id, "body", std::nullopt};
    auto r = store->append_messages(std::span(&m, 1), kNow, ids, {});
    EXPECT_TRUE(r[0].ok());
    return r[0]->msg.seq;
  }
};

TEST_P(StoreContract, FilesAreRecordedWithinTheirOwnersQuota) {
  Files f(GetParam());
  const auto alice = f.user("alice"), bob = f.user("bob");
  auto a1 = f.file(alice, 600);
  ASSERT_TRUE(f.catalog.add_file(a1, 1000).ok());
  EXPECT_EQ(f.catalog.add_file(f.file(alice, 401), 1000).error().code, Errc::quota_exceeded);
  EXPECT_TRUE(f.catalog.add_file(f.file(alice, 400), 1000).ok());  // exactly the quota
  EXPECT_TRUE(f.catalog.add_file(f.file(bob, 1000), 1000).ok());   // bob's own
  EXPECT_EQ(*f.catalog.bytes_owned(alice), 1000);
  EXPECT_EQ(f.catalog.add_file(a1, 1 << 30).error().code, Errc::conflict);

  auto got = f.catalog.get_file(a1.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->name, a1.name);
  EXPECT_EQ(got->size, 600);
  EXPECT_EQ(got->storage_key, a1.storage_key);
  EXPECT_EQ(got->created_at, a1.created_at);
  EXPECT_EQ(f.catalog.get_file("nope").error().code, Errc::not_found);

  ASSERT_TRUE(f.catalog.remove_file(a1.id).ok());
  EXPECT_EQ(f.catalog.get_file(a1.id).error().code, Errc::not_found);
  EXPECT_EQ(*f.catalog.bytes_owned(alice), 400);
  EXPECT_EQ(f.catalog.remove_file(a1.id).error().code, Errc::not_found);
}

TEST_P(StoreContract, AFileIsSharedWithMembersWhileItsMessageIsStoredAndNotDeleted) {
  Files f(GetParam());
  const auto alice = f.user("alice"), bob = f.user("bob"), carol = f.user("carol");
  NewGroup g{f.ids.uuid_v7(kNow), "team", alice, "", {bob}, kNow};
  const auto conv = f.store->create_group(g)->id;
  auto file = f.file(alice, 10);
  ASSERT_TRUE(f.catalog.add_file(file, 100).ok());

  // Linked, but the message is not stored (yet, or ever): nothing is shared.
  ASSERT_TRUE(f.catalog.link_file(file.id, conv, alice, "m1").ok());
  ASSERT_TRUE(f.catalog.link_file(file.id, conv, alice, "m1").ok());  // again: no-op
  EXPECT_FALSE(*f.catalog.shared_with(file.id, bob));

  const auto seq = f.send(conv, alice, "m1");
  EXPECT_TRUE(*f.catalog.shared_with(file.id, bob));
  EXPECT_FALSE(*f.catalog.shared_with(file.id, carol));  // not a member

  ASSERT_TRUE(f.store->remove_member(conv, bob, kNow + 1).ok());
  EXPECT_FALSE(*f.catalog.shared_with(file.id, bob));  // a former member
  ASSERT_TRUE(f.store->add_member(conv, bob, Role::member, kNow + 2).ok());
  EXPECT_TRUE(*f.catalog.shared_with(file.id, bob));

  ASSERT_TRUE(f.store->change_message(conv, seq, alice, std::nullopt, kNow + 3).ok());
  EXPECT_FALSE(*f.catalog.shared_with(file.id, bob));  // the message deleted
}

TEST_P(StoreContract, UnattachedFilesAreListedOldestFirstOncePastTheirTime) {
  Files f(GetParam());
  const auto alice = f.user("alice"), bob = f.user("bob");
  const auto conv = f.store->get_or_create_direct(alice, bob, f.ids.uuid_v7(kNow), kNow, false)->id;
  auto old1 = f.file(alice, 1, kNow - 3000), old2 = f.file(alice, 1, kNow - 2000);
  auto attached = f.file(alice, 1, kNow - 2500), fresh = f.file(alice, 1, kNow);
  for (const auto* r : {&old1, &old2, &attached, &fresh}) ASSERT_TRUE(f.catalog.add_file(*r, 100).ok());
  ASSERT_TRUE(f.catalog.link_file(attached.id, conv, alice, "m").ok());
  auto listed = f.catalog.unattached_files(kNow - 1000, 10);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].id, old1.id);
  EXPECT_EQ((*listed)[1].id, old2.id);
  EXPECT_EQ(f.catalog.unattached_files(kNow - 1000, 1)->size(), 1u);
}

TEST_P(StoreContract, FilesAreWalkedInIdOrderAndANameIsResealedOnlyIfUnchanged) {
  Files f(GetParam());
  const auto alice = f.user("alice");
  std::vector<FileRecord> files;
  for (int i = 0; i < 5; ++i) {
    files.push_back(f.file(alice, 1, kNow + i));
    ASSERT_TRUE(f.catalog.add_file(files.back(), 100).ok());
  }
  auto first = f.catalog.files_by_id("", 3);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 3u);
  auto rest = f.catalog.files_by_id(first->back().id, 3);
  ASSERT_EQ(rest->size(), 2u);
  std::vector<std::string> walked;
  for (const auto* page : {&*first, &*rest}) {
    for (const auto& r : *page) walked.push_back(r.id);
  }
  for (std::size_t i = 0; i < files.size(); ++i) EXPECT_EQ(walked[i], files[i].id);
  EXPECT_EQ((*rest)[1].name, files[4].name);

  EXPECT_TRUE(*f.catalog.reseal_file_name(files[0].id, files[0].name, "resealed"));
  EXPECT_EQ(f.catalog.get_file(files[0].id)->name, "resealed");
  EXPECT_FALSE(*f.catalog.reseal_file_name(files[0].id, files[0].name, "stale"));
  EXPECT_EQ(f.catalog.get_file(files[0].id)->name, "resealed");
  EXPECT_FALSE(*f.catalog.reseal_file_name("nope", "x", "y"));
}

}  // namespace
}  // namespace parley::testing
