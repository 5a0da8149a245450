#pragma once
// What a sequencer lane of KafkaLog commits from the records the poller handed it: for each
// partition this node owns, the records of the partition's current reading, from its stored
// position on, in offset order, never stepping over one that was not committed.
//
// A "reading" of a partition is its assignment to this node or a later seek of it (the poller
// numbers them); the poller tags each record with its partition's reading when it polls it, so
// a record read before a seek is never committed after it, whichever lane holds it.
//
// Pure logic over the positions the caller passes (KafkaLog holds its positions lock around
// the call); any thread.

#include <cstdint>
#include <map>
#include <span>
#include <vector>

struct rd_kafka_message_s;

namespace parley::kafka_lanes {

// A partition this node owns.
struct Owned {
  std::int64_t next = -1;  // the offset after the last committed record (-1: none yet)
  // Its records are skipped until the poller has moved the consumer to `next` (a new reading).
  bool fenced = false;
  // Records started past the expected offset: read again from there once; a second time the
  // ones between are gone from Kafka (retention), and the gap is accepted.
  std::int64_t gap_read_again_at = -1;
  std::uint64_t reading = 0;  // the reading a lane commits records of
};

// A record as the poller read it, with the reading of its partition then.
struct Read {
  rd_kafka_message_s* record;
  std::uint64_t reading;
};

struct LaneBatch {
  // In offset order; a partition is here only with at least one record.
  std::map<int, std::vector<rd_kafka_message_s*>> by_partition;
  bool fenced_some = false;  // a gap fenced a partition: the poller must seek it
};

// The records of `records` (in poll order) to commit now. Skipped: records of partitions not
// in `positions` (revoked), fenced, or of an earlier reading; records before `next` (already
// stored) and repeats. A gap — a partition's first record past `next`, or a later one past its
// predecessor + 1 — ends that partition's records in this batch and fences it to be read again
// from the expected offset; found again at the same offset, it is accepted (logged
// log_records_gone). Marks `positions` accordingly (fenced, gap_read_again_at).
LaneBatch select_lane_batch(std::span<const Read> records, std::map<int, Owned>& positions);

}  // namespace parley::kafka_lanes
