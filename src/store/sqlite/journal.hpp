#pragma once
// Journal: an append-only file of checksummed records, each durable (fdatasync) before append()
// returns. The inbox (inbox.hpp) keeps the acknowledged messages the store has not taken in yet
// here: one record per commit is one write() and one fdatasync, where a SQLite table cost a
// B-tree insert, a WAL pwrite per dirty page and a checkpoint copying it all again
// (docs/performance.md, "What was done").
//
// On disk: segment files BASE.1, BASE.2, … each a sequence of records
//   u32 length of the payload | u32 CRC-32C of tag and payload | i64 tag | payload
// (integers little-endian), then zeros: the current segment is extended with zeros ahead of its
// records, so an append overwrites and its fdatasync need not write the file's size. A record is
// valid when it is whole and its CRC matches. Opening reads every segment in order and cuts the
// last one at its first invalid record: past the zeros, only a write torn by a crash leaves one,
// and that record was never acknowledged (append had not returned); an invalid record in an
// earlier segment is damage, and opening refuses. Every open then starts a new segment (after the
// cut is on disk), so appends never follow bytes an earlier process left: a record whose write
// failed and whose cut-back a crash interrupted stays behind the new segment's records, in a
// file the next release deletes. A new segment is also started once the current one passes
// segment_bytes; a segment's directory entry is fsync'd before the first record goes in. Each
// record carries a tag from the caller (the inbox: its highest row id); release(upto) deletes
// the segments, other than the current one, whose tags are all ≤ upto.
//
// An exclusive lock (flock) on BASE.lock for the journal's lifetime keeps a second process from
// writing the same journal.
//
// Thread-safety: none; the owner serialises every call (Inbox::mutex_).

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace parley::sqlite {

class Journal {
 public:
  // Called at open for every valid record, oldest first.
  using OnRecord = std::function<void(std::int64_t tag, std::string_view payload)>;

  // Opens the journal at `base` (creating it), replaying its records through on_record.
  // Throws std::runtime_error when a file cannot be opened, locked or read, or when another
  // process holds the journal.
  Journal(std::string base, std::size_t segment_bytes, const OnRecord& on_record);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Appends one record and waits for it to be on disk. False (with errno's text in *error) when
  // the write or the fdatasync failed: the segment is then cut back to where it was, so a later
  // open does not find the record. When even that fails, the journal refuses every later append,
  // because what is on disk is no longer known.
  bool append(std::int64_t tag, std::string_view payload, std::string* error);
  // Deletes the segments (not the current one) whose records' tags are all ≤ upto.
  void release(std::int64_t upto);
  // At a clean close: when every record's tag is ≤ upto, deletes every segment, the current one
  // too, so the next open has nothing to read, and returns true; the journal takes no appends
  // after. Otherwise changes nothing and returns false.
  bool remove_all(std::int64_t upto);

  // Segment files, oldest first, and the bytes of records in the current one (for tests).
  std::vector<std::string> segment_paths() const;
  std::uint64_t current_bytes() const { return size_; }

 private:
  struct Segment {
    std::uint64_t number = 0;
    std::int64_t max_tag = INT64_MIN;  // INT64_MIN: no record
  };
  void open_segments(const OnRecord& on_record);  // the constructor's work after the lock
  std::string path_of(std::uint64_t number) const;
  void start_segment(std::uint64_t number);  // creates it, makes it current; throws
  bool rotate(std::string* error);

  std::string base_;
  std::size_t segment_bytes_;
  int lock_fd_ = -1;
  int fd_ = -1;              // the current segment, the last of segments_
  std::uint64_t size_ = 0;       // its valid bytes: the offset of the next record
  std::uint64_t allocated_ = 0;  // its length: records, then zeros written ahead of them
  std::vector<Segment> segments_;
  // No more appends: a failed write could not be cut back (what is on disk is unknown), or
  // remove_all deleted the segments.
  bool refusing_ = false;
  std::string buffer_;  // one record being written, kept to reuse its capacity
};

}  // namespace parley::sqlite
