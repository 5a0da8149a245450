#include "files/local_blob_store.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fakes/temp_dir.hpp"

namespace parley::files {
namespace {

TEST(LocalBlobStore, LeftoversOfAKilledProcessAreClearedAtStart) {
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
