#include "service/file_service.hpp"

#include <gtest/gtest.h>

#include "core/utf8.hpp"
#include "fakes/temp_dir.hpp"
#include "files/local_blob_store.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace parley {
namespace {

TEST(FileNames, AreSanitizedToOneSafeComponent) {
  EXPECT_EQ(sanitize_file_name("report.pdf"), "report.pdf");
  EXPECT_EQ(sanitize_file_name("../../etc/passwd"), "passwd");
  EXPECT_EQ(sanitize_file_name("C:\\Users\\me\\cat.jpg"), "cat.jpg");
  EXPECT_EQ(sanitize_file_name("a\x01\x1f\x7f" "b.txt"), "ab.txt");
  EXPECT_EQ(sanitize_file_name("caf\xC3\xA9.txt"), "caf\xC3\xA9.txt");
  EXPECT_EQ(sanitize_file_name("bad\xFF\xC3.txt"), "bad__.txt");
  EXPECT_EQ(sanitize_file_name("\xE2\x80\xAEgpj.exe"), "gpj.exe");  // no RLO
  EXPECT_EQ(sanitize_file_name("\xC2\x85x"), "x");                   // no C1 control
  EXPECT_EQ(sanitize_file_name("  .hidden. "), "hidden");
  EXPECT_EQ(sanitize_file_name(".."), "file");
  EXPECT_EQ(sanitize_file_name(""), "file");
  std::string long_name(300, 'x');
  long_name += ".png";
  const auto longest = sanitize_file_name(long_name);
  EXPECT_EQ(longest.size(), 255u);
  EXPECT_TRUE(longest.ends_with("x.png"));
  std::string accented;
  for (int i = 0; i < 200; ++i) accented += "\xC3\xA9";  // 400 bytes of é
  const auto cut = sanitize_file_name(accented);
  EXPECT_EQ(cut.size(), 254u);  // whole characters only
  EXPECT_TRUE(is_valid_utf8(cut));
}

struct Service {
  testing::TempDir dir;
  SqliteStore store{dir.file("p.db"), 1};
  files::LocalBlobStore blobs{dir.file("files")};
  ManualClock clock{1'790'000'000'000};
  SeededIdGenerator ids{3};
  FileService files;
  explicit Service(FileOptions o = {})
      : files(store, blobs, clock, ids, std::string(32, 'k'), o) {}
};

TEST(FileService, SignedUrlsHoldForTheirUserFileAndTimeOnly) {
  Service s;
  const auto url = s.files.sign_url("F1", 7);
  auto param = [&](const std::string& name) {
    const auto at = url.url.find(name + "=") + name.size() + 1;
    return url.url.substr(at, url.url.find('&', at) - at);
  };
  const auto user = param("user"), expires = param("expires"), sig = param("sig");
  EXPECT_EQ(*s.files.verify_url("F1", user, expires, sig), 7);
  EXPECT_EQ(s.files.verify_url("F2", user, expires, sig).error().code, Errc::forbidden);
  EXPECT_EQ(s.files.verify_url("F1", "8", expires, sig).error().code, Errc::forbidden);
  EXPECT_EQ(s.files.verify_url("F1", user, expires + "0", sig).error().code, Errc::forbidden);
  EXPECT_EQ(s.files.verify_url("F1", user, expires, sig + "x").error().code, Errc::forbidden);
  s.clock.advance(299'000);
  EXPECT_TRUE(s.files.verify_url("F1", user, expires, sig).ok());
  s.clock.advance(1'000);
  EXPECT_EQ(s.files.verify_url("F1", user, expires, sig).error().code, Errc::forbidden);
}

TEST(FileService, AnUploadPastTheLimitOrQuotaFailsAndAnUnfinishedOneLeavesNothing) {
  FileOptions o;
  o.max_upload_bytes = 10;
  o.upload_quota_bytes = 15;
  Service s(o);
  const auto alice = s.store.create_user("alice", "h", 1)->id;
  {
    auto up = s.files.begin_upload(alice, "a.txt");
    ASSERT_TRUE(up.ok());
    EXPECT_TRUE((*up)->write("hello").ok());
    EXPECT_EQ((*up)->write("world!").error().code, Errc::too_large);
  }  // abandoned
  EXPECT_EQ(*s.store.bytes_owned(alice), 0);
  auto up = s.files.begin_upload(alice, "dir/b.txt");
  ASSERT_TRUE((*up)->write("0123456789").ok());
  auto file = (*up)->finish();
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->name, "b.txt");
  EXPECT_EQ(file->mime, "text/plain");
  EXPECT_EQ(file->sha256, "84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882");
  auto second = s.files.begin_upload(alice, "c");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)->write("123456").error().code, Errc::quota_exceeded);
  auto reader = s.blobs.open(file->storage_key);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->size(), 10u);
}

}  // namespace
}  // namespace parley
