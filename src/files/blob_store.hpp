#pragma once
// BlobStore: where the bytes of uploaded files live, by key — a local directory (the embedded
// default, files/local_blob_store.hpp) or S3-compatible object storage. The records that say
// what a blob is and who may read it are the FileCatalog's (store/file_catalog.hpp).
//
// A blob is written once, as a stream, and becomes visible under its key only when committed:
// a writer destroyed uncommitted (a failed or aborted upload, an exception) leaves nothing
// behind, and a crash in the middle leaves nothing a reader can see (the local store clears the
// leftovers at its next start). Committed blobs are durable.
//
// Every method is blocking: call it from the blocking pool, never from a network shard. The
// store is thread-safe; a writer or reader is used by one thread at a time.
// Every implementation passes the contract suite in tests/contract/blob_store_contract.hpp.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace parley::files {

class BlobWriter {
 public:
  // Uncommitted: removes what was written.
  virtual ~BlobWriter() = default;
  // Appends the next piece.
  virtual Status write(std::string_view piece) = 0;
  // Makes the blob durable and visible under its key. Nothing may be written after.
  virtual Status commit() = 0;
};

class BlobReader {
 public:
  virtual ~BlobReader() = default;
  virtual std::uint64_t size() const = 0;
  // Reads up to into.size() bytes at offset; 0 at or past the end.
  virtual Result<std::size_t> read(std::uint64_t offset, std::span<char> into) = 0;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  // A writer for a new blob under key (keys are the caller's: printable ASCII, '/' separated).
  virtual Result<std::unique_ptr<BlobWriter>> create(std::string_view key) = 0;
  // Errc::not_found when there is no committed blob under key.
  virtual Result<std::unique_ptr<BlobReader>> open(std::string_view key) = 0;
  // Removes the blob; succeeds when there is none.
  virtual Status remove(std::string_view key) = 0;
  // A URL from which a client can fetch the blob itself for `ttl` (S3's pre-signed GET), with
  // the response's Content-Type and Content-Disposition; nullopt when the store serves its blobs
  // only through Parley (the local directory).
  virtual std::optional<std::string> download_url(std::string_view /*key*/,
                                                  std::chrono::seconds /*ttl*/,
                                                  std::string_view /*content_type*/,
                                                  std::string_view /*content_disposition*/) {
    return std::nullopt;
  }
  // Rewrites the blob, under the same key, in the form this store writes new ones now (the
  // encrypting store, crypto/sealed_blob_store.hpp: sealed under the current data key); readers
  // that opened it before keep reading the old one where the storage allows (local: yes). Returns
  // whether it rewrote anything: false when the blob is in that form already, or the store has
  // one form only (the default). The rewrap job (service/rewrap.hpp) calls it.
  virtual Result<bool> reseal(std::string_view /*key*/) { return false; }
  // For logs and the start-up line: "local:/var/lib/parley/files".
  virtual std::string describe() const = 0;
};

}  // namespace parley::files
