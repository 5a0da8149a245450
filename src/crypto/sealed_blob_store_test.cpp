#include "crypto/sealed_blob_store.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fakes/temp_dir.hpp"
#include "files/local_blob_store.hpp"

namespace parley::crypto {
namespace {

// A sealed store over a local directory, with chunks small enough that a test crosses many.
struct Fixture {
  testing::TempDir dir;
  files::LocalBlobStore inner{dir.file("files")};
  Keyring keys;
  SealedBlobStore sealed{inner, keys, true, 16};
  Fixture() { keys.add(1, SecretKey::random()); }

  std::string path(std::string_view key) const { return dir.file("files/" + std::string(key)); }
  std::string raw(std::string_view key) const {
    std::ifstream in(path(key), std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  void write_raw(std::string_view key, std::string_view bytes) const {
    std::ofstream(path(key), std::ios::binary | std::ios::trunc) << bytes;
  }
};

Status put(files::BlobStore& store, std::string_view key, std::string_view bytes, std::size_t piece = 7) {
  auto w = store.create(key);
  if (!w) return w.error();
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    if (auto s = (*w)->write(bytes.substr(at, piece)); !s) return s;
  }
  return (*w)->commit();
}

Result<std::string> get(files::BlobStore& store, std::string_view key, std::uint64_t offset = 0,
                        std::size_t length = SIZE_MAX) {
  auto r = store.open(key);
  if (!r) return r.error();
  std::string out(std::min<std::uint64_t>(length, (*r)->size() - std::min((*r)->size(), offset)), '\0');
  auto n = (*r)->read(offset, out);
  if (!n) return n.error();
  out.resize(*n);
  return out;
}

std::string text(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += static_cast<char>('a' + i % 26);
  return s;
}

TEST(SealedBlobStore, EverySizeRoundTripsAndTheStorageHoldsNoPlaintext) {
  Fixture f;
  for (std::size_t n : {0, 1, 15, 16, 17, 32, 33, 100}) {
    const std::string key = "f/aa/n" + std::to_string(n);
    const std::string data = "secret" + text(n);
    ASSERT_TRUE(put(f.sealed, key, data).ok()) << n;
    auto r = f.sealed.open(key);
    ASSERT_TRUE(r.ok()) << n;
    EXPECT_EQ((*r)->size(), data.size()) << n;
    EXPECT_EQ(*get(f.sealed, key), data) << n;
    EXPECT_EQ(f.raw(key).find("secret"), std::string::npos) << n;
    EXPECT_TRUE(*f.sealed.is_sealed(key));
  }
}

TEST(SealedBlobStore, RangesOpenOnlyTheChunksTheyTouch) {
  Fixture f;
  const std::string data = text(200);
  ASSERT_TRUE(put(f.sealed, "f/aa/r", data, 50).ok());
  for (auto [offset, length] : {std::pair<std::size_t, std::size_t>{0, 5}, {15, 2}, {16, 16}, {31, 40}, {190, 100}}) {
    EXPECT_EQ(*get(f.sealed, "f/aa/r", offset, length), data.substr(offset, length)) << offset;
  }
  EXPECT_EQ(get(f.sealed, "f/aa/r", 200)->size(), 0u);
}

TEST(SealedBlobStore, ATamperedTruncatedOrMovedBlobDoesNotOpen) {
  Fixture f;
  const std::string data = text(64);
  ASSERT_TRUE(put(f.sealed, "f/aa/t", data).ok());
  const std::string raw = f.raw("f/aa/t");

  std::string flipped = raw;
  flipped[raw.size() / 2] ^= 1;
  f.write_raw("f/aa/t", flipped);
  EXPECT_EQ(get(f.sealed, "f/aa/t").error().code, Errc::internal);

  // Cut at a chunk boundary: the chunk now last was not sealed as the last.
  f.write_raw("f/aa/t", raw.substr(0, 16 + 2 * (16 + Keyring::kRawOverhead)));
  EXPECT_FALSE(get(f.sealed, "f/aa/t").ok());

  // The same bytes under another key.
  std::filesystem::create_directories(f.path("f/bb"));
  f.write_raw("f/bb/t", raw);
  EXPECT_FALSE(get(f.sealed, "f/bb/t").ok());

  f.write_raw("f/aa/t", raw);
  EXPECT_EQ(*get(f.sealed, "f/aa/t"), data);
}

TEST(SealedBlobStore, OldKeysKeepOpeningAndAnUnknownKeyIsAClearError) {
  Fixture f;
  ASSERT_TRUE(put(f.sealed, "f/aa/one", "under key one").ok());
  f.keys.add(2, SecretKey::random());
  f.keys.make_current(2);
  ASSERT_TRUE(put(f.sealed, "f/aa/two", "under key two").ok());
  EXPECT_EQ(*get(f.sealed, "f/aa/one"), "under key one");
  EXPECT_EQ(*get(f.sealed, "f/aa/two"), "under key two");

  Keyring other;
  other.add(1, SecretKey::random());
  SealedBlobStore stranger(f.inner, other, true, 16);
  auto r = stranger.open("f/aa/two");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("data key 2"), std::string::npos) << r.error().message;
  EXPECT_FALSE(get(stranger, "f/aa/one").ok());  // key 1 there is another key
}

TEST(SealedBlobStore, BlobsStoredWithoutSealingAreReadAsTheyAre) {
  Fixture f;
  ASSERT_TRUE(put(f.inner, "f/aa/old", "written before encryption").ok());
  EXPECT_EQ(*get(f.sealed, "f/aa/old"), "written before encryption");
  EXPECT_FALSE(*f.sealed.is_sealed("f/aa/old"));

  SealedBlobStore off(f.inner, f.keys, false, 16);
  ASSERT_TRUE(put(off, "f/aa/plain", "sealing is off").ok());
  EXPECT_EQ(f.raw("f/aa/plain"), "sealing is off");
  ASSERT_TRUE(put(f.sealed, "f/aa/new", "sealed before it was turned off").ok());
  EXPECT_EQ(*get(off, "f/aa/new"), "sealed before it was turned off");
  // The local directory serves nothing itself: downloads always come through Parley.
  EXPECT_FALSE(f.sealed.download_url("f/aa/new", std::chrono::seconds(60), "text/plain", "inline"));
}

TEST(SealedBlobStore, AnAbandonedWriterLeavesNothing) {
  Fixture f;
  {
    auto w = f.sealed.create("f/aa/gone");
    ASSERT_TRUE((*w)->write(text(100)).ok());
  }
  EXPECT_EQ(f.sealed.open("f/aa/gone").error().code, Errc::not_found);
}

}  // namespace
}  // namespace parley::crypto
