// What a sequencer lane commits of the records it holds (kafka_lanes::select_lane_batch): the
// rules that keep every Kafka record committed once, in offset order, whatever the lanes hold
// when the poller seeks or the partitions move.
#include "log/kafka/lane_batch.hpp"

#include <librdkafka/rdkafka.h>

#include <gtest/gtest.h>

#include <deque>

namespace parley::kafka_lanes {
namespace {

// Records made here, as librdkafka would hand them over (only partition and offset matter).
class LaneBatchTest : public ::testing::Test {
 protected:
  Read record(int partition, std::int64_t offset, std::uint64_t reading) {
    auto& m = made_.emplace_back();
    m.partition = partition;
    m.offset = offset;
    return {&m, reading};
  }
  static std::vector<std::int64_t> offsets(const LaneBatch& b, int partition) {
    std::vector<std::int64_t> out;
    if (auto it = b.by_partition.find(partition); it != b.by_partition.end()) {
      for (auto* m : it->second) out.push_back(m->offset);
    }
    return out;
  }

  std::deque<rd_kafka_message_t> made_;  // stable addresses
};

TEST_F(LaneBatchTest, TakesEachOwnedPartitionsRecordsFromItsStoredPosition) {
  std::map<int, Owned> positions{{0, {.next = 10, .reading = 1}}, {1, {.next = -1, .reading = 2}}};
  const std::vector<Read> records{record(0, 8, 1), record(0, 10, 1), record(1, 0, 2),
                                  record(0, 11, 1), record(1, 1, 2), record(2, 5, 3)};
  const auto b = select_lane_batch(records, positions);
  EXPECT_EQ(offsets(b, 0), (std::vector<std::int64_t>{10, 11}));  // 8: stored already
  EXPECT_EQ(offsets(b, 1), (std::vector<std::int64_t>{0, 1}));    // none stored yet: from the first
  EXPECT_EQ(offsets(b, 2), (std::vector<std::int64_t>{}));        // not owned (revoked)
  EXPECT_FALSE(b.fenced_some);
}

TEST_F(LaneBatchTest, RecordsOfAnEarlierReadingAreSkippedAndSetOffNoGapRule) {
  // The poller saw a gap at 200 and moved the consumer back there (reading 2). A lane still
  // holding records read before the move, past 200, must neither commit them nor take them for
  // the gap seen a second time — that would skip 200…350 for good.
  std::map<int, Owned> positions{{0, {.next = 200, .gap_read_again_at = 200, .reading = 2}}};
  const std::vector<Read> stale{record(0, 351, 1), record(0, 352, 1)};
  const auto b = select_lane_batch(stale, positions);
  EXPECT_TRUE(b.by_partition.empty());
  EXPECT_FALSE(positions[0].fenced);

  const std::vector<Read> again{record(0, 200, 2), record(0, 201, 2)};
  EXPECT_EQ(offsets(select_lane_batch(again, positions), 0), (std::vector<std::int64_t>{200, 201}));
}

TEST_F(LaneBatchTest, AFencedPartitionIsSkipped) {
  std::map<int, Owned> positions{{0, {.next = 5, .fenced = true, .reading = 1}}};
  const std::vector<Read> records{record(0, 5, 1)};
  EXPECT_TRUE(select_lane_batch(records, positions).by_partition.empty());
}

TEST_F(LaneBatchTest, AGapIsReadAgainOnceThenAcceptedAsGoneFromKafka) {
  std::map<int, Owned> positions{{0, {.next = 100, .reading = 1}}};
  const std::vector<Read> first{record(0, 150, 1), record(0, 151, 1)};
  auto b = select_lane_batch(first, positions);
  EXPECT_TRUE(b.by_partition.empty());
  EXPECT_TRUE(b.fenced_some);
  EXPECT_TRUE(positions[0].fenced);
  EXPECT_EQ(positions[0].gap_read_again_at, 100);

  // The poller moved the consumer back to 100 (a new reading); Kafka starts at 150 still:
  // 100…149 are gone (retention), and the partition goes on.
  positions[0].fenced = false;
  positions[0].reading = 2;
  const std::vector<Read> again{record(0, 150, 2), record(0, 151, 2)};
  b = select_lane_batch(again, positions);
  EXPECT_EQ(offsets(b, 0), (std::vector<std::int64_t>{150, 151}));
  EXPECT_FALSE(b.fenced_some);
}

TEST_F(LaneBatchTest, AHoleInsideABatchEndsThePartitionThereAndReadsAgainFromIt) {
  std::map<int, Owned> positions{{0, {.next = 10, .reading = 1}}, {1, {.next = 0, .reading = 1}}};
  const std::vector<Read> records{record(0, 10, 1), record(0, 11, 1), record(0, 13, 1),
                                  record(1, 0, 1), record(0, 14, 1), record(0, 11, 1)};
  const auto b = select_lane_batch(records, positions);
  EXPECT_EQ(offsets(b, 0), (std::vector<std::int64_t>{10, 11}));  // up to the hole at 12
  EXPECT_EQ(offsets(b, 1), (std::vector<std::int64_t>{0}));        // another partition goes on
  EXPECT_TRUE(b.fenced_some);
  EXPECT_TRUE(positions[0].fenced);
  EXPECT_EQ(positions[0].gap_read_again_at, 12);
}

TEST_F(LaneBatchTest, APartitionWithNothingToTakeIsLeftOut) {
  // A partition given up and taken back while a commit of it was in flight: that commit moved
  // `next` past the records read again since. Nothing to commit, and no empty list either
  // (the lane's positions take each list's last offset).
  std::map<int, Owned> positions{{0, {.next = 110, .reading = 2}}, {1, {.next = 0, .reading = 2}}};
  const std::vector<Read> records{record(0, 100, 2), record(0, 109, 2), record(1, 0, 2)};
  const auto b = select_lane_batch(records, positions);
  EXPECT_EQ(b.by_partition.size(), 1u);
  EXPECT_EQ(offsets(b, 1), (std::vector<std::int64_t>{0}));
  EXPECT_FALSE(b.fenced_some);
}

TEST_F(LaneBatchTest, ARepeatedRecordIsTakenOnce) {
  std::map<int, Owned> positions{{0, {.next = 0, .reading = 1}}};
  const std::vector<Read> records{record(0, 0, 1), record(0, 1, 1), record(0, 1, 1),
                                  record(0, 2, 1)};
  EXPECT_EQ(offsets(select_lane_batch(records, positions), 0),
            (std::vector<std::int64_t>{0, 1, 2}));
}

}  // namespace
}  // namespace parley::kafka_lanes
