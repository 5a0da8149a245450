#pragma once
// SealedBlobStore: file contents (and thumbnails) encrypted at rest (docs/security.md, "At rest").
// A files::BlobStore in front of the real one (a local directory, S3): what is written is sealed
// on the way in, what is read is opened on the way out, so FileService and the file routes see
// plaintext and the storage, its backups and anyone with a pre-signed URL see only ciphertext.
//
// A sealed blob is a header and the file's bytes cut into chunks, each sealed on its own so that
// a Range request opens only the chunks it touches:
//     "PRLYBLB1" ‖ key id (u32 LE) ‖ chunk size C (u32 LE)          16 bytes
//     chunk 0 … chunk n-1: nonce ‖ ciphertext ‖ tag                 C + 40 bytes each
//     the last chunk (0 … C bytes of plaintext, always present)
// Each chunk's associated data is the blob's storage key, C, its index and whether it is the
// last, so a chunk moved within or between blobs, a blob moved to another key, or a blob cut
// short at a chunk boundary does not open. The key id is the data key current when the blob was
// created (crypto/keyring.hpp); old keys keep opening what they sealed.
//
// A blob without the header (written before --encrypt-at-rest, or with it off) is read as it is.
// Downloads are never redirected to the storage while sealing is on (a pre-signed URL would hand
// out ciphertext): Parley streams them. With sealing off, a blob that is not sealed is still
// redirected where the storage can.
//
// Threads: as files/blob_store.hpp (blocking; thread-safe; a reader or writer on one thread at a
// time).

#include "crypto/keyring.hpp"
#include "files/blob_store.hpp"

namespace parley::crypto {

class SealedBlobStore final : public files::BlobStore {
 public:
  // seal_new: --encrypt-at-rest. chunk_bytes: the plaintext in each chunk (tests make it small).
  SealedBlobStore(files::BlobStore& inner, const Keyring& keys, bool seal_new,
                  std::size_t chunk_bytes = 64 * 1024);

  Result<std::unique_ptr<files::BlobWriter>> create(std::string_view key) override;
  // Errc::internal when a sealed blob's header is damaged or names a key this node lacks.
  Result<std::unique_ptr<files::BlobReader>> open(std::string_view key) override;
  Status remove(std::string_view key) override { return inner_.remove(key); }
  std::optional<std::string> download_url(std::string_view key, std::chrono::seconds ttl,
                                          std::string_view content_type,
                                          std::string_view content_disposition) override;
  // Seals a blob stored as it is, or one sealed under another key than the current one, anew
  // (nothing when sealing is off).
  Result<bool> reseal(std::string_view key) override;
  std::string describe() const override { return inner_.describe(); }

  // Whether the blob under key is sealed. Errc::not_found when there is none.
  Result<bool> is_sealed(std::string_view key);

 private:
  files::BlobStore& inner_;
  const Keyring& keys_;
  const bool seal_new_;
  const std::size_t chunk_bytes_;
};

}  // namespace parley::crypto
