// The BlobStore contract (files/blob_store.hpp), run against the local directory always and
// against S3-compatible storage when PARLEY_TEST_S3 names one (make test starts s3proxy, which
// checks signatures for real): visibility only at commit, nothing left by an abandoned writer,
// multipart-sized blobs, ranged reads, removal, and download URLs that work only untampered —
// and each of them again behind encryption at rest (crypto/sealed_blob_store.hpp).
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>

#include "core/ids.hpp"
#include "crypto/sealed_blob_store.hpp"
#include "fakes/temp_dir.hpp"
#include "files/local_blob_store.hpp"
#include "files/s3/s3_blob_store.hpp"
#include "net/http_client.hpp"

namespace parley::testing {
namespace {

struct BlobStoreFactory {
  std::string name;
  std::function<std::shared_ptr<files::BlobStore>()> make;
};

std::optional<files::S3Options> s3_options() {
  const char* url = std::getenv("PARLEY_TEST_S3");
  const char* id = std::getenv("PARLEY_TEST_S3_ACCESS_KEY_ID");
  const char* secret = std::getenv("PARLEY_TEST_S3_SECRET_ACCESS_KEY");
  if (!url || !id || !secret) return std::nullopt;
  ::setenv("PARLEY_S3_ACCESS_KEY_ID", id, 1);
  ::setenv("PARLEY_S3_SECRET_ACCESS_KEY", secret, 1);
  auto o = files::parse_s3_url(url);
  ::unsetenv("PARLEY_S3_ACCESS_KEY_ID");
  ::unsetenv("PARLEY_S3_SECRET_ACCESS_KEY");
  o.bucket = "contract-" + SystemIdGenerator().uuid_v7(1).substr(24);  // a bucket per test
  o.part_bytes = 5 << 20;  // S3's smallest part: a 12 MiB blob is three parts
  return o;
}

std::vector<BlobStoreFactory> factories() {
  std::vector<BlobStoreFactory> out;
  out.push_back({"local", [] {
                   // The directory lives as long as the store.
                   struct Owned {
                     TempDir dir;
                     files::LocalBlobStore store{dir.file("blobs")};
                   };
                   auto owned = std::make_shared<Owned>();
                   return std::shared_ptr<files::BlobStore>(owned, &owned->store);
                 }});
  if (s3_options()) {
    out.push_back({"s3", [] { return std::make_shared<files::S3BlobStore>(*s3_options()); }});
  }
  // Each again behind encryption at rest (crypto/sealed_blob_store.hpp), with a chunk size that
  // does not divide a part, so that chunks straddle S3's parts.
  for (std::size_t i = 0, n = out.size(); i < n; ++i) {
    out.push_back({"sealed_" + out[i].name, [make = out[i].make] {
                     struct Owned {
                       std::shared_ptr<files::BlobStore> inner;
                       crypto::Keyring keys;
                       std::unique_ptr<crypto::SealedBlobStore> sealed;
                     };
                     auto owned = std::make_shared<Owned>();
                     owned->inner = make();
                     owned->keys.add(1, crypto::SecretKey::random());
                     owned->sealed = std::make_unique<crypto::SealedBlobStore>(*owned->inner, owned->keys,
                                                                               true, 100000);
                     return std::shared_ptr<files::BlobStore>(owned, owned->sealed.get());
                   }});
  }
  return out;
}

// gtest prints a parameter by this (instead of its bytes).
void PrintTo(const BlobStoreFactory& f, std::ostream* os) { *os << f.name; }

class BlobStoreContract : public ::testing::TestWithParam<BlobStoreFactory> {};

std::string read_all(files::BlobReader& r, std::size_t piece = 1 << 20) {
  std::string out(r.size(), '\0');
  for (std::size_t at = 0; at < out.size();) {
    auto n = r.read(at, std::span(out.data() + at, std::min(piece, out.size() - at)));
    if (!n.ok() || *n == 0) break;
    at += *n;
  }
  return out;
}

TEST_P(BlobStoreContract, ABlobIsVisibleOnlyOnceCommittedAndReadsByRange) {
  auto store = GetParam().make();
  auto w = store->create("f/aa/one");
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->write("hello ").ok());
  ASSERT_TRUE((*w)->write("world").ok());
  EXPECT_EQ(store->open("f/aa/one").error().code, Errc::not_found);
  ASSERT_TRUE((*w)->commit().ok());
  auto r = store->open("f/aa/one");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->size(), 11u);
  EXPECT_EQ(read_all(**r, 3), "hello world");
  std::array<char, 4> part{};
  EXPECT_EQ(*(*r)->read(6, part), 4u);
  EXPECT_EQ(std::string(part.data(), 4), "worl");
  EXPECT_EQ(*(*r)->read(11, part), 0u);
  ASSERT_TRUE(store->remove("f/aa/one").ok());
  EXPECT_EQ(store->open("f/aa/one").error().code, Errc::not_found);
  EXPECT_TRUE(store->remove("f/aa/one").ok());  // gone already: fine
}

TEST_P(BlobStoreContract, AnAbandonedWriterLeavesNothingEvenPastOnePart) {
  auto store = GetParam().make();
  {
    auto w = store->create("f/bb/two");
    ASSERT_TRUE((*w)->write(std::string(6 << 20, 'p')).ok());  // a part went up on S3
  }
  EXPECT_EQ(store->open("f/bb/two").error().code, Errc::not_found);
}

TEST_P(BlobStoreContract, ALargeBlobIsWrittenInPiecesAndReadBackWhole) {
  auto store = GetParam().make();
  std::string data;
  for (int i = 0; data.size() < (12u << 20); ++i) data += std::to_string(i) + ",";
  auto w = store->create("f/cc/big");
  for (std::size_t at = 0; at < data.size(); at += 777'777) {
    ASSERT_TRUE((*w)->write(std::string_view(data).substr(at, 777'777)).ok());
  }
  ASSERT_TRUE((*w)->commit().ok());
  auto r = store->open("f/cc/big");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ((*r)->size(), data.size());
  EXPECT_TRUE(read_all(**r) == data);
}

TEST_P(BlobStoreContract, ADownloadUrlServesTheBlobAndNothingWhenTampered) {
  auto store = GetParam().make();
  auto w = store->create("f/dd/u");
  ASSERT_TRUE((*w)->write("via url").ok());
  ASSERT_TRUE((*w)->commit().ok());
  auto url = store->download_url("f/dd/u", std::chrono::seconds(60), "text/plain",
                                 "attachment; filename=\"u.txt\"");
  if (!url) return;  // the local store serves through Parley only
  ASSERT_TRUE(url->starts_with("http://"));
  const auto rest = url->substr(7);
  const auto slash = rest.find('/');
  const auto colon = rest.find(':');
  net::HttpClient http(rest.substr(0, colon),
                       static_cast<std::uint16_t>(std::stoi(rest.substr(colon + 1, slash - colon - 1))));
  const std::string target = rest.substr(slash);
  auto ok = http.send("GET", target, {});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, "via url");
  EXPECT_EQ(ok->header("Content-Disposition"), "attachment; filename=\"u.txt\"");
  std::string tampered = target;
  tampered.replace(tampered.find("/u?"), 3, "/v?");
  EXPECT_EQ(http.send("GET", tampered, {})->status, 403);
}

TEST(S3BlobStore, AWrongSecretIsRefusedAtStart) {
  auto o = s3_options();
  if (!o) GTEST_SKIP() << "PARLEY_TEST_S3 is not set (make test starts s3proxy)";
  o->credentials.secret_access_key += "-wrong";
  EXPECT_THROW(files::S3BlobStore store(*o), std::runtime_error);
}

TEST(S3BlobStore, UrlsAreParsedWithClearErrors) {
  ::setenv("PARLEY_S3_ACCESS_KEY_ID", "id", 1);
  ::setenv("PARLEY_S3_SECRET_ACCESS_KEY", "secret", 1);
  auto o = files::parse_s3_url("s3://b?endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=eu-west-1");
  EXPECT_EQ(o.bucket, "b");
  EXPECT_EQ(o.endpoint_host, "127.0.0.1");
  EXPECT_EQ(o.endpoint_port, 9000);
  EXPECT_EQ(o.credentials.region, "eu-west-1");
  EXPECT_EQ(o.public_base, "http://127.0.0.1:9000");
  EXPECT_THROW(files::parse_s3_url("s3://b"), std::invalid_argument);
  EXPECT_THROW(files::parse_s3_url("s3://?endpoint=http://h:1"), std::invalid_argument);
  EXPECT_THROW(files::parse_s3_url("s3://b?endpoint=https://h:1"), std::invalid_argument);
  ::unsetenv("PARLEY_S3_SECRET_ACCESS_KEY");
  EXPECT_THROW(files::parse_s3_url("s3://b?endpoint=http://h:1"), std::invalid_argument);
  ::unsetenv("PARLEY_S3_ACCESS_KEY_ID");
}

INSTANTIATE_TEST_SUITE_P(Backends, BlobStoreContract, ::testing::ValuesIn(factories()),
                         [](const auto& p) { return p.param.name; });

}  // namespace
}  // namespace parley::testing
