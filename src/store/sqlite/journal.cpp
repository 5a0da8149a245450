#include "store/sqlite/journal.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "core/logging.hpp"
#include "store/sqlite/little_endian.hpp"

namespace parley::sqlite {

namespace {

constexpr std::size_t kHeaderBytes = 4 + 4 + 8;  // length, CRC, tag
// A record longer than this is not one Parley wrote (a batch of messages is a few MiB at most).
constexpr std::uint32_t kMaxPayload = 1u << 30;
// The current segment is extended with zeros this much at a time, ahead of the records, so that
// a record overwrites space the file already has and its fdatasync writes data only: appending
// past the end of the file made every fdatasync write the inode too (its size), which on this
// machine's ext4 was a second synchronous write per commit.
constexpr std::uint64_t kPreallocateBytes = 1u << 20;

// CRC-32C (Castagnoli), the checksum of iSCSI, ext4 metadata and many logs, byte at a time.
constexpr std::array<std::uint32_t, 256> kCrcTable = [] {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}();

std::uint32_t crc32c(std::uint32_t crc, std::string_view bytes) {
  crc = ~crc;
  for (const char ch : bytes) {
    crc = kCrcTable[(crc ^ static_cast<unsigned char>(ch)) & 0xFF] ^ (crc >> 8);
  }
  return ~crc;
}

[[noreturn]] void fail(const std::string& what, const std::string& path) {
  throw std::runtime_error("journal: cannot " + what + " " + path + ": " +
                           std::strerror(errno));
}

bool write_all(int fd, std::string_view bytes, std::uint64_t offset) {
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return true;
}

// Writes zeros over [from, to).
bool write_zeros(int fd, std::uint64_t from, std::uint64_t to) {
  static const std::string zeros(64 * 1024, '\0');
  while (from < to) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), to - from));
    if (!write_all(fd, std::string_view(zeros).substr(0, n), from)) return false;
    from += n;
  }
  return true;
}

std::string read_file(int fd, const std::string& path) {
  std::string bytes;
  char chunk[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("read", path);
    if (n == 0) return bytes;
    bytes.append(chunk, static_cast<std::size_t>(n));
  }
}

void sync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("open the directory", dir);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) fail("fsync the directory", dir);
}

}  // namespace

Journal::Journal(std::string base, std::size_t segment_bytes, const OnRecord& on_record)
    : base_(std::move(base)), segment_bytes_(segment_bytes) {
  const std::string lock_path = base_ + ".lock";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) fail("open", lock_path);
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const bool held = errno == EWOULDBLOCK;
    ::close(lock_fd_);
    if (held) {
      throw std::runtime_error("journal: " + base_ +
                               " is in use by another Parley process (or another store in this "
                               "one): one server per database");
    }
    fail("lock", lock_path);
  }

  try {
    open_segments(on_record);
  } catch (...) {
    if (fd_ >= 0) ::close(fd_);
    ::close(lock_fd_);  // releases the flock: a failed open must not keep the journal locked
    throw;
  }
}

void Journal::open_segments(const OnRecord& on_record) {
  // The segments there are, by number.
  const std::filesystem::path base_path(base_);
  const std::string prefix = base_path.filename().string() + ".";
  std::filesystem::path dir = base_path.parent_path();
  if (dir.empty()) dir = ".";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(prefix)) continue;
    const std::string_view suffix = std::string_view(name).substr(prefix.size());
    if (suffix.empty() || suffix.size() > 19 || suffix[0] == '0' ||
        !std::all_of(suffix.begin(), suffix.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;  // BASE.lock, or a name this class never makes (BASE.01 would be BASE.1 twice)
    }
    segments_.push_back({std::stoull(std::string(suffix)), INT64_MIN});
  }
  std::sort(segments_.begin(), segments_.end(),
            [](const Segment& a, const Segment& b) { return a.number < b.number; });

  // Replay, cutting each segment at its first invalid record.
  for (Segment& segment : segments_) {
    const std::string path = path_of(segment.number);
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) fail("open", path);
    const std::string bytes = read_file(fd, path);
    std::size_t at = 0;
    while (bytes.size() - at >= kHeaderBytes) {
      const std::uint32_t length = get_le<std::uint32_t>(bytes.data() + at);
      if (length > kMaxPayload || bytes.size() - at - kHeaderBytes < length) break;
      const std::string_view tagged(bytes.data() + at + 8, 8 + length);
      if (crc32c(0, tagged) != get_le<std::uint32_t>(bytes.data() + at + 4)) break;
      const auto tag = static_cast<std::int64_t>(get_le<std::uint64_t>(tagged.data()));
      on_record(tag, tagged.substr(8));
      segment.max_tag = std::max(segment.max_tag, tag);
      at += kHeaderBytes + length;
    }
    if (at < bytes.size()) {
      // Zeros are space made ahead of the records (kPreallocateBytes); anything else is a record
      // a crash tore — which only the last segment can hold, because a segment is left only
      // after a record in it succeeded — or damage, which must not be cut silently: the records
      // after it were acknowledged.
      if (!std::all_of(bytes.begin() + static_cast<std::ptrdiff_t>(at), bytes.end(),
                       [](char c) { return c == '\0'; })) {
        if (&segment != &segments_.back()) {
          ::close(fd);
          throw std::runtime_error("journal: " + path + " is damaged at byte " +
                                   std::to_string(at) + ", and later segments hold records: "
                                   "restore from a backup (docs/operations.md, Backups)");
        }
        log::warn("event=journal_cut file={} valid_bytes={} dropped_bytes={}", path, at,
                  bytes.size() - at);
      }
      if (::ftruncate(fd, static_cast<off_t>(at)) != 0 || ::fdatasync(fd) != 0) {
        const int saved = errno;
        ::close(fd);
        errno = saved;
        fail("cut", path);
      }
    }
    ::close(fd);
  }
  start_segment(segments_.empty() ? 1 : segments_.back().number + 1);
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

std::string Journal::path_of(std::uint64_t number) const {
  return base_ + "." + std::to_string(number);
}

void Journal::start_segment(std::uint64_t number) {
  const std::string path = path_of(number);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) fail("create", path);
  // The new file's name must survive a crash before a record in it is acknowledged.
  try {
    const std::string dir = std::filesystem::path(path).parent_path().string();
    sync_directory(dir.empty() ? "." : dir);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  size_ = allocated_ = 0;
  segments_.push_back({number, INT64_MIN});
}

bool Journal::rotate(std::string* error) {
  try {
    start_segment(segments_.back().number + 1);
    return true;
  } catch (const std::exception& e) {
    *error = e.what();
    return false;
  }
}

bool Journal::append(std::int64_t tag, std::string_view payload, std::string* error) {
  if (refusing_) {
    *error = segments_.empty() ? "the journal is closed"
                               : "the journal is unusable after a failed write (see the log); "
                                 "restart the server";
    return false;
  }
  if (payload.size() > kMaxPayload) {
    *error = "record too large";
    return false;
  }
  // A full segment is left behind before the record, never after: a record is never split.
  if (size_ >= segment_bytes_ && segments_.back().max_tag != INT64_MIN && !rotate(error)) {
    return false;
  }
  buffer_.resize(kHeaderBytes);
  put_le<std::uint32_t>(buffer_.data(), static_cast<std::uint32_t>(payload.size()));
  put_le<std::uint64_t>(buffer_.data() + 8, static_cast<std::uint64_t>(tag));
  buffer_.append(payload);
  put_le<std::uint32_t>(buffer_.data() + 4, crc32c(0, std::string_view(buffer_).substr(8)));

  if (size_ + buffer_.size() > allocated_) {
    const std::uint64_t wanted =
        (size_ + buffer_.size() + kPreallocateBytes - 1) / kPreallocateBytes * kPreallocateBytes;
    if (!write_zeros(fd_, allocated_, wanted)) {
      *error = std::strerror(errno);
      return false;  // nothing acknowledged is there; zeros past the records are cut at open
    }
    allocated_ = wanted;
  }
  if (write_all(fd_, buffer_, size_) && ::fdatasync(fd_) == 0) {
    size_ += buffer_.size();
    segments_.back().max_tag = std::max(segments_.back().max_tag, tag);
    if (buffer_.capacity() > (1u << 20)) std::string().swap(buffer_);  // a rare huge batch
    return true;
  }
  *error = std::strerror(errno);
  // Take the record back, so that nothing unacknowledged can reappear at the next open.
  allocated_ = size_;
  if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0 || ::fdatasync(fd_) != 0) {
    refusing_ = true;
    log::error("event=journal_broken file={} error=\"{}\"", path_of(segments_.back().number),
               std::strerror(errno));
  }
  return false;
}

void Journal::release(std::int64_t upto) {
  while (segments_.size() > 1 && segments_.front().max_tag <= upto) {
    const std::string path = path_of(segments_.front().number);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      // Harmless: its records are all taken in, and a later open skips them again.
      log::warn("event=journal_unlink_failed file={} error=\"{}\"", path, std::strerror(errno));
      return;
    }
    segments_.erase(segments_.begin());
  }
}

bool Journal::remove_all(std::int64_t upto) {
  if (!std::all_of(segments_.begin(), segments_.end(),
                   [&](const Segment& segment) { return segment.max_tag <= upto; })) {
    return false;
  }
  ::close(fd_);
  fd_ = -1;
  refusing_ = true;
  // Oldest first: a crash part way leaves newer segments, whose tags are as taken in.
  for (const Segment& segment : segments_) {
    const std::string path = path_of(segment.number);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      log::warn("event=journal_unlink_failed file={} error=\"{}\"", path, std::strerror(errno));
    }
  }
  segments_.clear();
  return true;
}

std::vector<std::string> Journal::segment_paths() const {
  std::vector<std::string> paths;
  for (const Segment& segment : segments_) paths.push_back(path_of(segment.number));
  return paths;
}

}  // namespace parley::sqlite
