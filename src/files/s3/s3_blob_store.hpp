#pragma once
// S3BlobStore: blobs as objects in one bucket of S3-compatible object storage
// (--files s3://BUCKET?endpoint=http://HOST:PORT&region=REGION[&public_endpoint=URL]), signed
// with AWS Signature V4 (files/s3/sigv4.hpp), path-style (ENDPOINT/BUCKET/KEY).
//
// A blob up to part_bytes is one PutObject at commit; a larger one is a multipart upload whose
// parts go up as they fill, completed at commit and aborted when the writer is destroyed
// uncommitted — either way nothing is visible under the key before commit. Downloads are
// pre-signed GET URLs (download_url) that the client fetches from the storage itself.
// Credentials come from PARLEY_S3_ACCESS_KEY_ID and PARLEY_S3_SECRET_ACCESS_KEY, or from the
// file PARLEY_S3_CREDENTIALS_FILE names (lines access_key_id=… and secret_access_key=…); they
// are never logged.
//
// Threads: any (blocking calls; see files/blob_store.hpp). Every node of a cluster uses the
// same bucket.

#include <memory>
#include <string>

#include "files/blob_store.hpp"
#include "files/s3/sigv4.hpp"

namespace parley::net {
class HttpClient;
}

namespace parley::files {

struct S3Options {
  std::string bucket;
  std::string endpoint_host;  // where Parley sends requests
  std::uint16_t endpoint_port = 80;
  std::string public_base;    // where clients fetch pre-signed URLs: "http://host:port"
  sigv4::Credentials credentials;
  std::size_t part_bytes = 8 << 20;  // multipart part size (S3's minimum is 5 MiB)
};

// Parses an s3:// URL and reads the credentials from the environment; throws
// std::invalid_argument with the reason.
S3Options parse_s3_url(const std::string& url);

class S3BlobStore final : public BlobStore {
 public:
  // Checks that the bucket can be reached with the credentials (creating it when it does not
  // exist); throws std::runtime_error when it cannot.
  explicit S3BlobStore(S3Options options);
  ~S3BlobStore() override;

  Result<std::unique_ptr<BlobWriter>> create(std::string_view key) override;
  Result<std::unique_ptr<BlobReader>> open(std::string_view key) override;
  Status remove(std::string_view key) override;
  std::optional<std::string> download_url(std::string_view key, std::chrono::seconds ttl,
                                          std::string_view content_type,
                                          std::string_view content_disposition) override;
  std::string describe() const override;

  // One signed request to the bucket (key "" for the bucket itself). Used by the writer and
  // reader too.
  struct Response {
    int status = 0;
    std::string body;
    std::string etag;
    std::string content_length;
    std::string error;  // the transport's failure, when status is 0
  };
  Response call(std::string_view method, std::string_view key,
                std::vector<std::pair<std::string, std::string>> query,
                std::vector<std::pair<std::string, std::string>> headers, std::string_view body);
  const S3Options& options() const { return options_; }

 private:
  std::string path_of(std::string_view key) const;
  const S3Options options_;
  std::unique_ptr<net::HttpClient> http_;
};

}  // namespace parley::files
