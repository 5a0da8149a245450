#include "store/sqlite/journal.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "fakes/temp_dir.hpp"

namespace parley::testing {
namespace {

using sqlite::Journal;

struct Record {
  std::int64_t tag;
  std::string payload;
  bool operator==(const Record&) const = default;
};

// Opens the journal at base, returning what it replayed.
std::vector<Record> replay(const std::string& base, std::size_t segment_bytes = 1 << 20) {
  std::vector<Record> records;
  Journal journal(base, segment_bytes, [&](std::int64_t tag, std::string_view payload) {
    records.push_back({tag, std::string(payload)});
  });
  return records;
}

void append(Journal& journal, std::int64_t tag, const std::string& payload) {
  std::string error;
  ASSERT_TRUE(journal.append(tag, payload, &error)) << error;
}

Journal open(const std::string& base, std::size_t segment_bytes = 1 << 20) {
  return Journal(base, segment_bytes, [](std::int64_t, std::string_view) {});
}

TEST(Journal, RecordsComeBackInOrderAfterReopen) {
  TempDir dir;
  const std::string base = dir.file("j");
  const std::string big(300'000, 'x');
  {
    auto journal = open(base);
    append(journal, 1, "one");
    append(journal, 2, "");
    append(journal, 7, big);
  }
  EXPECT_EQ(replay(base), (std::vector<Record>{{1, "one"}, {2, ""}, {7, big}}));
  {
    auto journal = open(base);  // appends after what is there, in a segment of its own
    append(journal, 8, "eight");
  }
  EXPECT_EQ(replay(base).back(), (Record{8, "eight"}));
  EXPECT_EQ(replay(base).size(), 4u);
}

// A crash in the middle of a write leaves a torn record at the end of the last segment: its tail
// did not reach the disk. That record was never acknowledged, so the next open drops it and cuts
// the file there; appends go to a new segment, never after bytes an earlier process left.
TEST(Journal, ATornRecordIsCutAndAppendsGoToANewSegment) {
  TempDir dir;
  const std::string base = dir.file("j");
  std::string segment;
  std::uint64_t after_two = 0, after_three = 0;
  {
    auto journal = open(base);
    append(journal, 1, "one");
    append(journal, 2, "two");
    after_two = journal.current_bytes();
    append(journal, 3, "three");
    after_three = journal.current_bytes();
    segment = journal.segment_paths().back();
  }
  ASSERT_GT(std::filesystem::file_size(segment), after_three);  // space made ahead, zeros
  {
    std::fstream file(segment, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(after_three) - 3);
    file.write("\0\0\0", 3);
  }
  EXPECT_EQ(replay(base), (std::vector<Record>{{1, "one"}, {2, "two"}}));
  EXPECT_EQ(std::filesystem::file_size(segment), after_two);
  {
    auto journal = open(base);
    append(journal, 4, "four");
    EXPECT_NE(journal.segment_paths().back(), segment);
    EXPECT_EQ(journal.current_bytes(), 16u + 4u);  // only "four" in the current segment
  }
  EXPECT_EQ(std::filesystem::file_size(segment), after_two);
  EXPECT_EQ(replay(base), (std::vector<Record>{{1, "one"}, {2, "two"}, {4, "four"}}));
}

// Every open starts a segment; release deletes the earlier ones once their records are taken in
// (empty ones at once), and remove_all at a clean close leaves nothing — only when every record
// is taken in.
TEST(Journal, EachOpenStartsASegmentAndTakenInSegmentsAreDeleted) {
  TempDir dir;
  const std::string base = dir.file("j");
  {
    auto journal = open(base);
    append(journal, 1, "one");
    append(journal, 2, "two");
  }
  {
    auto journal = open(base);
    EXPECT_EQ(journal.segment_paths(), (std::vector<std::string>{base + ".1", base + ".2"}));
    EXPECT_EQ(journal.current_bytes(), 0u);
    journal.release(1);  // .1 still holds 2
    EXPECT_EQ(journal.segment_paths().size(), 2u);
    journal.release(2);
    EXPECT_EQ(journal.segment_paths(), (std::vector<std::string>{base + ".2"}));
    EXPECT_FALSE(std::filesystem::exists(base + ".1"));
    append(journal, 3, "three");
    EXPECT_FALSE(journal.remove_all(2));  // 3 is not taken in: nothing deleted
    EXPECT_TRUE(std::filesystem::exists(base + ".2"));
  }
  {
    auto journal = open(base);  // .2 with 3, and a new .3
    EXPECT_TRUE(journal.remove_all(3));
    EXPECT_TRUE(journal.segment_paths().empty());
  }
  for (const char* name : {"j.1", "j.2", "j.3", "j.4"}) {
    EXPECT_FALSE(std::filesystem::exists(dir.file(name))) << name;
  }
  EXPECT_TRUE(replay(base).empty());
}

TEST(Journal, ARecordWhoseChecksumFailsEndsTheReplay) {
  TempDir dir;
  const std::string base = dir.file("j");
  std::string segment;
  std::uint64_t after_one = 0;
  {
    auto journal = open(base);
    append(journal, 1, "one");
    after_one = journal.current_bytes();
    append(journal, 2, "two");
    append(journal, 3, "three");
    segment = journal.segment_paths().back();
  }
  {
    std::fstream file(segment, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(after_one) + 16);  // the second record's payload
    file.put('T');
  }
  EXPECT_EQ(replay(base), (std::vector<Record>{{1, "one"}}));
}

// Only the last segment can end in a torn record; a bad one in an earlier segment is damage with
// acknowledged records after it: opening refuses (and does not keep the journal locked).
TEST(Journal, DamageInAnEarlierSegmentRefusesToOpen) {
  TempDir dir;
  const std::string base = dir.file("j");
  {
    auto journal = open(base, 100);
    for (std::int64_t tag = 1; tag <= 3; ++tag) append(journal, tag, std::string(60, 'p'));
    ASSERT_EQ(journal.segment_paths().size(), 2u);
  }
  {
    std::fstream file(base + ".1", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(20);  // the first record's payload
    file.put('D');
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      replay(base, 100);
      FAIL() << "opened a damaged journal";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("damaged"), std::string::npos) << e.what();
    }
  }
}

// Segments rotate past segment_bytes; release deletes a segment only once every tag in it is
// released, and never the one being written.
TEST(Journal, SegmentsRotateAndAreReleasedOnlyWhenAllTheirRecordsAre) {
  TempDir dir;
  const std::string base = dir.file("j");
  const std::string payload(60, 'p');  // 76 bytes a record: two fit under 100
  {
    auto journal = open(base, 100);
    for (std::int64_t tag = 1; tag <= 5; ++tag) append(journal, tag, payload);
    ASSERT_EQ(journal.segment_paths().size(), 3u);  // {1, 2}, {3, 4}, {5}
    journal.release(1);
    EXPECT_EQ(journal.segment_paths().size(), 3u);
    journal.release(2);
    EXPECT_EQ(journal.segment_paths().size(), 2u);
    EXPECT_FALSE(std::filesystem::exists(base + ".1"));
    journal.release(100);
    ASSERT_EQ(journal.segment_paths().size(), 1u);
    EXPECT_EQ(journal.segment_paths()[0], base + ".3");
    append(journal, 6, "six");
  }
  EXPECT_EQ(replay(base, 100), (std::vector<Record>{{5, payload}, {6, "six"}}));
}

TEST(Journal, ASecondOpenOfTheSameJournalIsRefused) {
  TempDir dir;
  auto journal = open(dir.file("j"));
  EXPECT_THROW(open(dir.file("j")), std::runtime_error);
}

}  // namespace
}  // namespace parley::testing
