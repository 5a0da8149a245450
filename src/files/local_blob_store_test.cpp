#include "files/local_blob_store.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fakes/temp_dir.hpp"

namespace parley::files {
namespace {

std::string read_all(BlobReader& r) {
  std::string out(r.size(), '\0');
  std::size_t at = 0;
  while (at < out.size()) {
    auto n = r.read(at, std::span(out.data() + at, std::min<std::size_t>(3, out.size() - at)));
    EXPECT_TRUE(n.ok());
    if (!n.ok() || *n == 0) break;
    at += *n;
  }
  return out;
}

TEST(LocalBlobStore, ABlobIsVisibleOnlyOnceCommitted) {
  testing::TempDir dir;
  LocalBlobStore store(dir.file("files"));
  auto w = store.create("f/aa/one");
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->write("hello ").ok());
  ASSERT_TRUE((*w)->write("world").ok());
  EXPECT_EQ(store.open("f/aa/one").error().code, Errc::not_found);
  ASSERT_TRUE((*w)->commit().ok());
  auto r = store.open("f/aa/one");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(read_all(**r), "hello world");
  std::array<char, 4> past{};
  EXPECT_EQ(*(*r)->read(11, past), 0u);
  ASSERT_TRUE(store.remove("f/aa/one").ok());
  EXPECT_EQ(store.open("f/aa/one").error().code, Errc::not_found);
  EXPECT_TRUE(store.remove("f/aa/one").ok());  // gone already: fine
}

TEST(LocalBlobStore, AnUncommittedWriterLeavesNothingAndLeftoversAreClearedAtStart) {
  testing::TempDir dir;
  const auto root = dir.file("files");
  {
    LocalBlobStore store(root);
    auto w = store.create("f/bb/two");
    ASSERT_TRUE((*w)->write("partial").ok());
  }
  EXPECT_TRUE(std::filesystem::is_empty(root + "/.partial"));
  std::filesystem::create_directories(root + "/.partial");
  { std::ofstream(root + "/.partial/123-0") << "left by a killed process"; }
  LocalBlobStore again(root);
  EXPECT_TRUE(std::filesystem::is_empty(root + "/.partial"));
}

TEST(LocalBlobStore, KeysCannotLeaveTheDirectory) {
  testing::TempDir dir;
  LocalBlobStore store(dir.file("files"));
  for (const char* key : {"../x", "/etc/passwd", "a/../../x", ".partial/x", "a//b", "", "a b"}) {
    EXPECT_EQ(store.create(key).error().code, Errc::bad_request) << key;
    EXPECT_EQ(store.open(key).error().code, Errc::not_found) << key;
  }
}

}  // namespace
}  // namespace parley::files
