#include "log/kafka/lane_batch.hpp"

#include <librdkafka/rdkafka.h>

#include "core/logging.hpp"

namespace parley::kafka_lanes {

LaneBatch select_lane_batch(std::span<const Read> records, std::map<int, Owned>& positions) {
  LaneBatch batch;
  for (const auto& [m, reading] : records) {
    auto owned = positions.find(m->partition);
    if (owned == positions.end() || owned->second.fenced || reading != owned->second.reading) {
      continue;  // revoked, fenced, or read before the last move: read again from `next`
    }
    Owned& o = owned->second;
    const auto taken = batch.by_partition.find(m->partition);
    // The offset this record should have: the stored position, or after the last one taken.
    const std::int64_t expected =
        taken == batch.by_partition.end() ? o.next : taken->second.back()->offset + 1;
    if (m->offset < expected) continue;  // stored already, or a repeat
    if (expected >= 0 && m->offset > expected) {
      // Records between were read and not committed: never step over them. Read again from
      // `expected`; if Kafka then still starts past it, they are gone from Kafka.
      if (o.gap_read_again_at != expected) {
        log::warn("event=log_gap partition={} expected={} got={}", m->partition, expected,
                  m->offset);
        o.gap_read_again_at = expected;
        o.fenced = true;
        batch.fenced_some = true;
        continue;
      }
      log::error("event=log_records_gone partition={} from={} to={}", m->partition, expected,
                 m->offset);
    }
    // Created only here: a partition in by_partition has at least one record.
    batch.by_partition[m->partition].push_back(m);
  }
  return batch;
}

}  // namespace parley::kafka_lanes
