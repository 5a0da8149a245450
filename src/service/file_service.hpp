#pragma once
// FileService: file sharing's use cases — uploads (limits, quota, checksum, type detection, name
// sanitizing), who may download, signed download URLs, the attachments of a send, and the
// expiry of uploads never attached (docs/protocol.md, "Files"; docs/operations.md, "Files").
// Built on FileCatalog (the records) and files::BlobStore (the bytes).
//
// Threads: [blocking] methods touch the catalog or the blob store: call them from the blocking
// pool. [non-blocking] ones are pure. Thread-safe throughout; an Upload is used by one thread at
// a time (a request's coroutine, hopping to the pool and back).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "auth/digest.hpp"
#include "chat/types.hpp"
#include "core/ids.hpp"
#include "core/result.hpp"
#include "core/time.hpp"
#include "crypto/message_sealer.hpp"
#include "files/blob_store.hpp"
#include "files/thumbnailer.hpp"
#include "store/file_catalog.hpp"

namespace parley {

struct FileOptions {
  std::uint64_t max_upload_bytes = 100ull << 20;  // --max-upload-bytes
  std::uint64_t upload_quota_bytes = 1ull << 30;  // --upload-quota-bytes, per user
  std::chrono::seconds signed_url_ttl{300};       // --signed-url-ttl
  std::chrono::seconds orphan_upload_ttl{24 * 3600};  // --orphan-upload-ttl
  std::size_t max_attachments = 10;                   // per message
  files::ThumbnailLimits thumbnails;  // --thumbnail-max-side, --thumbnail-max-pixels
};

// A file name as stored and shown: the last path component, no control characters, valid UTF-8
// (invalid bytes become '_'), no leading or trailing spaces and dots, at most 255 bytes; "file"
// when nothing is left. [non-blocking]
std::string sanitize_file_name(std::string_view name);

// The JSON array stored in Message::attachments for these files: [{id, name, mime, size}, …].
std::string attachments_json(std::span<const chat::FileRecord> files);

// A download URL signed for one user: valid until expires_at (ms), for that user only.
struct SignedUrl {
  std::string url;  // "/files/ID?user=U&expires=S&sig=…", relative to the server
  TimeMs expires_at = 0;
};

class FileService {
 public:
  // url_key: the secret signed URLs are made with (at least 32 bytes). sealer (optional): file
  // names are kept sealed in the catalog (--encrypt-at-rest); the contents are sealed by the
  // blob store given (crypto/sealed_blob_store.hpp).
  FileService(FileCatalog& catalog, files::BlobStore& blobs, const Clock& clock, IdGenerator& ids,
              std::string url_key, FileOptions options,
              const crypto::MessageSealer* sealer = nullptr);

  const FileOptions& options() const { return options_; }
  files::BlobStore& blobs() { return blobs_; }

  // One upload in progress: its bytes are written as they arrive, and it becomes a file at
  // finish(). Destroyed unfinished, it leaves nothing behind.
  class Upload {
   public:
    // [blocking] Appends the next bytes. Errc::too_large past --max-upload-bytes,
    // Errc::quota_exceeded past the owner's quota.
    Status write(std::string_view piece);
    // [blocking] Commits the bytes and records the file.
    Result<chat::FileRecord> finish();
    std::uint64_t size() const { return size_; }
    // Names the file (sanitized), for a name known only once the bytes came (multipart).
    void rename(std::string_view name);

   private:
    friend class FileService;
    Upload(FileService& service, chat::UserId owner, std::string name, std::int64_t quota_left,
           std::unique_ptr<files::BlobWriter> writer, std::string id, std::string key);
    FileService& service_;
    chat::UserId owner_;
    std::string name_;
    std::int64_t quota_left_;
    std::unique_ptr<files::BlobWriter> writer_;
    std::string id_;
    std::string key_;
    auth::Sha256 sha_;
    std::string head_;  // the first bytes, for type detection
    std::uint64_t size_ = 0;
  };

  // [blocking] Starts an upload of `name` (sanitized here) for owner. Errc::quota_exceeded when
  // the owner's files already fill the quota.
  Result<std::unique_ptr<Upload>> begin_upload(chat::UserId owner, std::string_view name);

  // [blocking] The file, if `user` may read it: its uploader, or a member of a conversation
  // where a stored, not deleted, message carries it. Errc::not_found for no such file,
  // Errc::forbidden for someone else.
  Result<chat::FileRecord> readable(std::string_view id, chat::UserId user);

  // [blocking] The thumbnail of a readable file (files/thumbnailer.hpp), made on the first request
  // and kept in storage beside the file. Errc::unprocessable for a type without thumbnails or an
  // image over the limits.
  // Returns its storage key.
  Result<std::string> thumbnail(const chat::FileRecord& file);

  // [non-blocking] A URL for `file` that lets `user` download it without a token until the
  // --signed-url-ttl is over.
  SignedUrl sign_url(std::string_view file_id, chat::UserId user) const;
  // [non-blocking] The user a signed URL's query was made for; Errc::forbidden when the
  // signature does not match or has expired.
  Result<chat::UserId> verify_url(std::string_view file_id, std::string_view user,
                                  std::string_view expires, std::string_view sig) const;

  // [blocking] The attachments of a send by `sender`: each id must name a file the sender
  // uploaded (Errc::not_found for none, Errc::forbidden for someone else's). The JSON for
  // Message::attachments; "" for none.
  Result<std::string> resolve_attachments(chat::UserId sender, std::span<const std::string> ids);
  // [blocking] Records that the message carries those files (before it is appended).
  Status link_attachments(std::span<const std::string> ids, const chat::NewMessage& message);

  // [blocking] The rewrap job's walk (service/rewrap.hpp): the stored records in id order after
  // after_id, names as stored (sealed).
  Result<std::vector<chat::FileRecord>> stored_files(std::string_view after_id, int limit) {
    return catalog_.files_by_id(after_id, limit);
  }
  // [blocking] Moves a stored file to the current at-rest form: its name (in the catalog) and
  // its bytes (files::BlobStore::reseal); a cached thumbnail is dropped, to be made again under
  // the current key when asked for. Returns whether anything changed. Errc::bad_ciphertext or
  // Errc::internal for a name or blob that does not open.
  Result<bool> reseal(const chat::FileRecord& stored);

  // [blocking] Deletes uploads never attached and older than --orphan-upload-ttl, at most
  // `limit`; returns how many.
  Result<int> expire_orphans(int limit = 500);

 private:
  // The catalog's record with its name opened.
  Result<chat::FileRecord> load(std::string_view id);
  std::string thumbnail_key(const chat::FileRecord& file) const;
  std::string signature(std::string_view file_id, std::string_view user,
                        std::string_view expires) const;

  FileCatalog& catalog_;
  files::BlobStore& blobs_;
  const Clock& clock_;
  IdGenerator& ids_;
  const std::string url_key_;
  const FileOptions options_;
  const crypto::MessageSealer* sealer_;
};

}  // namespace parley
