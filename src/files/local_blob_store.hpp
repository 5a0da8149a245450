#pragma once
// LocalBlobStore: blobs as files under one directory (--files local:DIR; the embedded default
// DATA_DIR/files). A blob is written to DIR/.partial/ and renamed under its key when committed,
// after an fsync of the file and then of its directory, so a committed blob survives a crash and
// a partial one is never seen under its key. The .partial directory is emptied at start (what a
// killed process left there).
//
// Threads: any (blocking calls; see files/blob_store.hpp).

#include <string>

#include "files/blob_store.hpp"

namespace parley::files {

class LocalBlobStore final : public BlobStore {
 public:
  // Creates dir if needed; throws std::runtime_error when it cannot.
  explicit LocalBlobStore(std::string dir);

  Result<std::unique_ptr<BlobWriter>> create(std::string_view key) override;
  Result<std::unique_ptr<BlobReader>> open(std::string_view key) override;
  Status remove(std::string_view key) override;
  std::string describe() const override { return "local:" + dir_; }

 private:
  std::string path_of(std::string_view key) const;
  const std::string dir_;
};

}  // namespace parley::files
