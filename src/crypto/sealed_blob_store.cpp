#include "crypto/sealed_blob_store.hpp"

#include <algorithm>
#include <cstring>

namespace parley::crypto {

namespace {

constexpr std::string_view kMagic = "PRLYBLB1";
constexpr std::size_t kHeaderBytes = 16;
// A chunk size outside these is a damaged header, not a choice this code ever made.
constexpr std::size_t kMinChunk = 16, kMaxChunk = 16u << 20;
// Reads fetch this much ciphertext from the storage at once (one request on S3).
constexpr std::size_t kReadWindow = 1u << 20;

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

std::string chunk_context(std::string_view key, std::size_t chunk_bytes, std::uint64_t index,
                          bool last) {
  std::string c = "blob|";
  c.append(key).append("|").append(std::to_string(chunk_bytes)).append("|");
  c.append(std::to_string(index)).append(last ? "|last" : "|more");
  return c;
}

Error damaged(std::string_view key, std::string what) {
  return make_error(Errc::internal, "stored file " + std::string(key) + ": " + std::move(what));
}

// Reads exactly into.size() bytes at offset (the stores may answer short).
Status read_exactly(files::BlobReader& r, std::uint64_t offset, std::span<char> into) {
  for (std::size_t at = 0; at < into.size();) {
    auto n = r.read(offset + at, into.subspan(at));
    if (!n) return n.error();
    if (*n == 0) return make_error(Errc::internal, "the stored file ended early");
    at += *n;
  }
  return ok_status();
}

class SealedWriter final : public files::BlobWriter {
 public:
  SealedWriter(std::unique_ptr<files::BlobWriter> inner, const Keyring& keys, std::string key,
               std::size_t chunk_bytes)
      : inner_(std::move(inner)), keys_(keys), key_(std::move(key)), chunk_bytes_(chunk_bytes),
        key_id_(keys.current()) {
    header_.append(kMagic);
    put_u32(header_, key_id_);
    put_u32(header_, static_cast<std::uint32_t>(chunk_bytes_));
  }

  Status write(std::string_view piece) override {
    pending_.append(piece);
    // A full chunk stays pending until more comes: the last chunk is sealed as the last.
    std::string out = take_header();
    std::size_t used = 0;
    while (pending_.size() - used > chunk_bytes_) {
      seal_chunk(std::string_view(pending_).substr(used, chunk_bytes_), false, out);
      used += chunk_bytes_;
    }
    pending_.erase(0, used);
    if (out.empty()) return ok_status();
    return inner_->write(out);
  }

  Status commit() override {
    std::string out = take_header();
    seal_chunk(pending_, true, out);
    pending_.clear();
    if (auto s = inner_->write(out); !s) return s;
    return inner_->commit();
  }

 private:
  std::string take_header() { return std::exchange(header_, {}); }
  void seal_chunk(std::string_view plain, bool last, std::string& out) {
    keys_.seal_raw(key_id_, plain, chunk_context(key_, chunk_bytes_, index_++, last), out);
  }

  std::unique_ptr<files::BlobWriter> inner_;
  const Keyring& keys_;
  const std::string key_;
  const std::size_t chunk_bytes_;
  const std::uint32_t key_id_;
  std::string header_;   // until the first write
  std::string pending_;  // plaintext not yet sealed
  std::uint64_t index_ = 0;
};

class SealedReader final : public files::BlobReader {
 public:
  SealedReader(std::unique_ptr<files::BlobReader> inner, const Keyring& keys, std::string key,
               std::uint32_t key_id, std::size_t chunk_bytes, std::uint64_t chunks,
               std::uint64_t size)
      : inner_(std::move(inner)), keys_(keys), key_(std::move(key)), key_id_(key_id),
        chunk_bytes_(chunk_bytes), chunks_(chunks), size_(size) {}

  std::uint64_t size() const override { return size_; }

  Result<std::size_t> read(std::uint64_t offset, std::span<char> into) override {
    std::size_t copied = 0;
    while (copied < into.size() && offset + copied < size_) {
      const std::uint64_t at = offset + copied;
      if (at < cached_from_ || at >= cached_from_ + cache_.size()) {
        if (auto s = fill(at / chunk_bytes_); !s) return s.error();
      }
      const std::size_t n = std::min<std::uint64_t>(into.size() - copied, cached_from_ + cache_.size() - at);
      std::memcpy(into.data() + copied, cache_.data() + (at - cached_from_), n);
      copied += n;
    }
    return copied;
  }

 private:
  // Opens the chunks of one read window, starting at chunk `first`, into the cache.
  Status fill(std::uint64_t first) {
    const std::uint64_t sealed = chunk_bytes_ + Keyring::kRawOverhead;
    const std::uint64_t count = std::min<std::uint64_t>(chunks_ - first, std::max<std::uint64_t>(1, kReadWindow / sealed));
    const std::uint64_t begin = kHeaderBytes + first * sealed;
    const std::uint64_t end = std::min(inner_->size(), begin + count * sealed);
    // Both buffers keep their size from window to window: no allocation, no zeroing.
    sealed_.resize(end - begin);
    if (auto s = read_exactly(*inner_, begin, sealed_); !s) return s;
    cache_.resize(end - begin - count * Keyring::kRawOverhead);
    cached_from_ = first * chunk_bytes_;
    for (std::uint64_t i = 0; i < count; ++i) {
      const std::uint64_t index = first + i;
      const auto piece = std::string_view(sealed_).substr(i * sealed, sealed);
      if (!keys_.open_raw(key_id_, piece, chunk_context(key_, chunk_bytes_, index, index + 1 == chunks_),
                          cache_.data() + i * chunk_bytes_)) {
        cache_.clear();
        return damaged(key_, "chunk " + std::to_string(index) + " does not open (tampered, truncated or moved)");
      }
    }
    return ok_status();
  }

  std::unique_ptr<files::BlobReader> inner_;
  const Keyring& keys_;
  const std::string key_;
  const std::uint32_t key_id_;
  const std::size_t chunk_bytes_;
  const std::uint64_t chunks_;
  const std::uint64_t size_;
  std::string sealed_;            // the window's ciphertext
  std::string cache_;             // plaintext of chunks from cached_from_ on
  std::uint64_t cached_from_ = 0;
};

struct Header {
  std::uint32_t key_id = 0;
  std::size_t chunk_bytes = 0;
};

// The header of the blob `r` reads, or nullopt when it has none (a blob stored as it is).
Result<std::optional<Header>> read_header(files::BlobReader& r) {
  if (r.size() < kHeaderBytes) return std::optional<Header>();
  char raw[kHeaderBytes];
  if (auto s = read_exactly(r, 0, raw); !s) return s.error();
  if (std::string_view(raw, kMagic.size()) != kMagic) return std::optional<Header>();
  return std::optional<Header>(Header{get_u32(raw + 8), get_u32(raw + 12)});
}

}  // namespace

SealedBlobStore::SealedBlobStore(files::BlobStore& inner, const Keyring& keys, bool seal_new,
                                 std::size_t chunk_bytes)
    : inner_(inner), keys_(keys), seal_new_(seal_new), chunk_bytes_(chunk_bytes) {}

Result<std::unique_ptr<files::BlobWriter>> SealedBlobStore::create(std::string_view key) {
  auto inner = inner_.create(key);
  if (!inner || !seal_new_) return inner;
  return std::unique_ptr<files::BlobWriter>(
      std::make_unique<SealedWriter>(std::move(*inner), keys_, std::string(key), chunk_bytes_));
}

Result<std::unique_ptr<files::BlobReader>> SealedBlobStore::open(std::string_view key) {
  auto inner = inner_.open(key);
  if (!inner) return inner;
  auto header = read_header(**inner);
  if (!header) return header.error();
  if (!*header) return inner;  // stored as it is
  const auto [key_id, chunk_bytes] = **header;
  if (chunk_bytes < kMinChunk || chunk_bytes > kMaxChunk) return damaged(key, "damaged header");
  if (!keys_.has(key_id)) {
    return damaged(key, "sealed under data key " + std::to_string(key_id) + ", which this node does not have");
  }
  const std::uint64_t body = (*inner)->size() - kHeaderBytes;
  const std::uint64_t sealed = chunk_bytes + Keyring::kRawOverhead;
  const std::uint64_t chunks = (body + sealed - 1) / sealed;
  const std::uint64_t last = body - (chunks - 1) * sealed;
  if (chunks == 0 || last < Keyring::kRawOverhead) return damaged(key, "truncated");
  const std::uint64_t size = (chunks - 1) * chunk_bytes + (last - Keyring::kRawOverhead);
  return std::unique_ptr<files::BlobReader>(std::make_unique<SealedReader>(
      std::move(*inner), keys_, std::string(key), key_id, chunk_bytes, chunks, size));
}

Result<bool> SealedBlobStore::is_sealed(std::string_view key) {
  auto inner = inner_.open(key);
  if (!inner) return inner.error();
  auto header = read_header(**inner);
  if (!header) return header.error();
  return header->has_value();
}

Result<bool> SealedBlobStore::reseal(std::string_view key) {
  if (!seal_new_) return false;
  {
    auto inner = inner_.open(key);
    if (!inner) return inner.error();
    auto header = read_header(**inner);
    if (!header) return header.error();
    if (*header && (*header)->key_id == keys_.current()) return false;
  }
  auto reader = open(key);
  if (!reader) return reader.error();
  auto writer = create(key);
  if (!writer) return writer.error();
  std::string piece(kReadWindow, '\0');
  for (std::uint64_t at = 0; at < (*reader)->size();) {
    auto n = (*reader)->read(at, piece);
    if (!n) return n.error();
    if (*n == 0) return make_error(Errc::internal, "the stored file ended early");
    if (auto s = (*writer)->write(std::string_view(piece).substr(0, *n)); !s) return s.error();
    at += *n;
  }
  if (auto s = (*writer)->commit(); !s) return s.error();
  return true;
}

std::optional<std::string> SealedBlobStore::download_url(std::string_view key, std::chrono::seconds ttl,
                                                         std::string_view content_type,
                                                         std::string_view content_disposition) {
  if (seal_new_) return std::nullopt;
  if (auto sealed = is_sealed(key); !sealed || *sealed) return std::nullopt;
  return inner_.download_url(key, ttl, content_type, content_disposition);
}

}  // namespace parley::crypto
