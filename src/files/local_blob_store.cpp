#include "files/local_blob_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "core/logging.hpp"

namespace parley::files {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPartial = ".partial";

Error io_error(std::string_view what, const std::string& path, int err = errno) {
  log::error("event=file_storage_error op={} path=\"{}\" error=\"{}\"", what, path,
             std::strerror(err));
  return make_error(Errc::unavailable, "file storage error");
}

// A key is ours (service/file_service.cpp) but is checked anyway: it must stay inside the dir.
bool valid_key(std::string_view key) {
  if (key.empty() || key.front() == '/' || key.back() == '/') return false;
  for (char c : key) {
    if (c < 0x21 || c > 0x7e || c == '\\') return false;
  }
  std::size_t start = 0;
  while (start <= key.size()) {
    const auto end = std::min(key.find('/', start), key.size());
    const auto part = key.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." || part.front() == '.') return false;
    start = end + 1;
  }
  return true;
}

Status sync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("open_dir", dir);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return io_error("fsync_dir", dir, err);
  return ok_status();
}

class LocalWriter final : public BlobWriter {
 public:
  LocalWriter(int fd, std::string partial, std::string final_path)
      : fd_(fd), partial_(std::move(partial)), final_(std::move(final_path)) {}
  ~LocalWriter() override {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(partial_.c_str());
  }

  Status write(std::string_view piece) override {
    if (committed_ || fd_ < 0) return make_error(Errc::internal, "write after commit");
    while (!piece.empty()) {
      const auto n = ::write(fd_, piece.data(), piece.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return io_error("write", partial_);
      }
      piece.remove_prefix(static_cast<std::size_t>(n));
    }
    return ok_status();
  }

  Status commit() override {
    if (committed_ || fd_ < 0) return make_error(Errc::internal, "committed twice");
    if (::fsync(fd_) != 0) return io_error("fsync", partial_);
    ::close(fd_);
    fd_ = -1;
    const fs::path target(final_);
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec) return io_error("mkdir", target.parent_path().string(), ec.value());
    if (::rename(partial_.c_str(), final_.c_str()) != 0) return io_error("rename", final_);
    committed_ = true;
    // The rename is durable once the directory that now names the blob is.
    return sync_directory(target.parent_path().string());
  }

 private:
  int fd_;
  const std::string partial_;
  const std::string final_;
  bool committed_ = false;
};

class LocalReader final : public BlobReader {
 public:
  LocalReader(int fd, std::uint64_t size, std::string path)
      : fd_(fd), size_(size), path_(std::move(path)) {}
  ~LocalReader() override { ::close(fd_); }
  std::uint64_t size() const override { return size_; }
  Result<std::size_t> read(std::uint64_t offset, std::span<char> into) override {
    if (offset >= size_ || into.empty()) return std::size_t{0};
    for (;;) {
      const auto n = ::pread(fd_, into.data(), into.size(), static_cast<off_t>(offset));
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return io_error("pread", path_);
    }
  }

 private:
  const int fd_;
  const std::uint64_t size_;
  const std::string path_;
};

}  // namespace

LocalBlobStore::LocalBlobStore(std::string dir) : dir_(std::move(dir)) {
  std::error_code ec;
  const fs::path partial = fs::path(dir_) / kPartial;
  fs::create_directories(partial, ec);
  if (ec) throw std::runtime_error("--files local:" + dir_ + ": cannot create it: " + ec.message());
  // What a process killed in the middle of an upload left: never committed, never visible.
  std::size_t cleared = 0;
  for (const auto& entry : fs::directory_iterator(partial, ec)) {
    fs::remove(entry.path(), ec);
    ++cleared;
  }
  if (cleared) log::info("event=file_storage_partial_cleared count={}", cleared);
}

std::string LocalBlobStore::path_of(std::string_view key) const {
  return dir_ + "/" + std::string(key);
}

Result<std::unique_ptr<BlobWriter>> LocalBlobStore::create(std::string_view key) {
  if (!valid_key(key)) return make_error(Errc::bad_request, "invalid storage key");
  static std::atomic<std::uint64_t> counter{0};
  const std::string partial = dir_ + "/" + kPartial + "/" + std::to_string(::getpid()) + "-" +
                              std::to_string(counter.fetch_add(1));
  const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("create", partial);
  return std::unique_ptr<BlobWriter>(std::make_unique<LocalWriter>(fd, partial, path_of(key)));
}

Result<std::unique_ptr<BlobReader>> LocalBlobStore::open(std::string_view key) {
  if (!valid_key(key)) return make_error(Errc::not_found, "no such blob");
  const std::string path = path_of(key);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return make_error(Errc::not_found, "no such blob");
    return io_error("open", path);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return io_error("fstat", path, err);
  }
  return std::unique_ptr<BlobReader>(
      std::make_unique<LocalReader>(fd, static_cast<std::uint64_t>(st.st_size), path));
}

Status LocalBlobStore::remove(std::string_view key) {
  if (!valid_key(key)) return ok_status();
  const std::string path = path_of(key);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return io_error("unlink", path);
  return ok_status();
}

}  // namespace parley::files
