#pragma once
// KafkaLog: the cluster MessageLog (docs/operations.md, "Kafka message log"), on librdkafka.
//
// append() produces the message to the topic (key = conversation id, so one conversation is one
// partition) with an idempotent producer and acks=all, and keeps the send's `done` under a token.
// Every node also runs the sequencer: a consumer in one consumer group, so each partition has
// one owner at a time. The owner's poller hands what each poll returns to the sequencer's lanes
// (partition p to lane p % lanes): each lane commits its records — whatever waits when it is
// free, from any of its partitions — with Store::append_messages together with each
// partition's consumed position (LogPosition): dedupe by client id, dense seqs from last_seq,
// all in one transaction. The lanes commit side by side, each with a connection of the store's
// pool (sized with one per lane): several commits in flight, while one conversation's messages
// stay on one lane, in order. A lane stuck at the store holds up its own partitions only: once
// it has max_batch records queued, the poller pauses its partitions in the consumer (librdkafka
// fetches them again from the first record not handed over when they resume, once the lane has
// committed down to half of that), and goes on feeding the other lanes. A
// stale owner's commit is fenced by that position; a new owner starts where the last commit
// ended, so a replay assigns no seq twice. Then, for each new message, on_sequenced publishes
// its event (in seq order per conversation, from its lane's thread), and the send's node learns
// the result — directly if it is this node, else by a note on the Bus — and runs `done`: the
// ack carries the seq.
//
// Failures: Kafka unreachable → the send fails with `unavailable` after kDeliveryTimeout (not
// acknowledged, nothing stored); the store unreachable → the lane retries the batch until it
// commits (Kafka holds the backlog) and sends wait up to kReplyTimeout, then get `unavailable`
// (their message may still be stored later: a retry with the same client_msg_id finds it).
// Fenced (another node committed a partition meanwhile): the lane skips that partition's
// records, and the poller moves the consumer to the stored position. Each assignment and each
// such move of a partition is a new "reading" of it; the poller tags every record with its
// partition's reading, and a lane commits only records of the current one, from the stored
// position on, in offset order (the store fences a stale position). So a record read before a
// move is never committed after it, whatever the lanes hold, and no lane needs waiting for. A
// revoke waits up to a second (kLaneWait) for the lanes' commits in flight, then drops what
// the lanes and the poller hold: a commit stuck at the store does not hold up the consumer
// group's rebalance; it lands or is fenced like any stale owner's.
//
// Threads: a producer thread (delivery reports, reply timeouts), the poller ("kafka-sequencer":
// the consumer, its rebalances and seeks) and one thread per lane ("kafka-lane-N": store,
// on_sequenced, replies). done runs on the producer or a lane, or on the bus's thread for notes
// from other nodes. append/drain from any thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bus/bus.hpp"
#include "core/ids.hpp"
#include "core/time.hpp"
#include "log/kafka/lane_batch.hpp"
#include "log/message_log.hpp"
#include "store/store.hpp"

struct rd_kafka_s;
struct rd_kafka_message_s;
struct rd_kafka_queue_s;

namespace parley {

struct KafkaLogOptions {
  std::string brokers;  // host:port[,host:port…]
  std::string topic = "parley.messages";
  int partitions = 16;  // when this node creates the topic
  std::string group = "parley.messages.sequencer";  // <topic>.sequencer
  std::string node_id;  // the same id the Bus uses: where replies go
  // librdkafka settings from the URL (producer.NAME=V, consumer.NAME=V), applied after
  // Parley's own: tuning for the operator's machines (docs/operations.md, "Kafka message log").
  std::vector<std::pair<std::string, std::string>> producer_settings, consumer_settings;
  std::size_t max_batch = 1024;
  // The sequencer's lanes: commits in flight at once on this node (each lane takes partitions
  // p with p % lanes == its index, and a PostgreSQL connection).
  int lanes = 2;
};

// kafka://HOST:PORT[,HOST:PORT…][/TOPIC][?PARAM&…] (default topic parley.messages; the
// sequencers' consumer group is TOPIC.sequencer). PARAMs: partitions=N (when the topic is made:
// default 16), lanes=N (the sequencer's commits in flight, 1…64: default 2), producer.NAME=VALUE
// and consumer.NAME=VALUE (librdkafka settings, checked by librdkafka; those Parley's
// guarantees rest on are refused). Throws std::invalid_argument for anything else, saying why.
KafkaLogOptions parse_kafka_url(const std::string& url);

class KafkaLog final : public MessageLog {
 public:
  // Connects, creates the topic if it is missing, and starts both threads. Throws
  // std::runtime_error when Kafka cannot be reached or the topic cannot be made.
  KafkaLog(KafkaLogOptions options, Store& store, Bus& bus, const Clock& clock, IdGenerator& ids);
  ~KafkaLog() override;
  KafkaLog(const KafkaLog&) = delete;
  KafkaLog& operator=(const KafkaLog&) = delete;

  void append(chat::NewMessage message, Done done) override;
  void drain() override;
  std::uint64_t commits() const override { return commits_; }
  std::uint64_t committed_messages() const override { return committed_messages_; }

  static constexpr std::chrono::milliseconds kDeliveryTimeout{10'000};
  static constexpr std::chrono::milliseconds kReplyTimeout{30'000};

 private:
  struct Pending {
    Done done;
    std::chrono::steady_clock::time_point deadline;
  };
  // One lane of the sequencer: its thread commits what the poller queued, a batch at a time.
  using Read = kafka_lanes::Read;
  using Owned = kafka_lanes::Owned;
  struct Lane {
    std::mutex mutex;
    std::condition_variable work;  // the lane waits: records queued, or stopping
    std::condition_variable idle;  // the poller waits: the lane idle, or stopping
    std::vector<Read> queued;  // guarded by mutex, in poll order
    bool busy = false;  // guarded by mutex: committing what it took
    // Poller only: its partitions are paused in the consumer (it held max_batch records).
    bool paused = false;
    std::vector<int> paused_partitions;
    // False while paused until the lane next takes its queue, which then wakes the poller.
    std::atomic<bool> drained{true};
    std::thread thread;
  };
  void producer_loop();
  // The poller: polls the consumer (and so runs rebalances), hands records to the lanes, and
  // moves fenced partitions to their stored positions.
  void sequencer_loop();
  void lane_loop(Lane& lane);
  // Poller: queues `records` (lane k's) on the lane; pauses the lane's partitions once it holds
  // max_batch records.
  void hand(std::size_t k, std::vector<Read>& records);
  // Poller: the partitions of lane k this node owns.
  std::vector<int> lane_partitions(std::size_t k);
  // Poller: pauses lane k's partitions in the consumer (it holds `queued` records).
  void pause_lane(std::size_t k, std::size_t queued);
  // Poller: resumes the partitions of each paused lane that holds at most max_batch / 2 records.
  void resume_drained_lanes();
  // Poller: waits until every lane has committed what it was handed, or kLaneWait has passed,
  // before a rebalance gives partitions up. True when every lane is idle.
  bool wait_lanes_idle();
  // Poller: drops the records the lanes hold and have not taken (read again by the next owner).
  void drop_queued();
  // Poller: seeks each partition marked fenced to its stored position, as a new reading; one
  // that fails stays fenced, and is tried again.
  void seek_fenced();
  // Lane: commits `records` (one lane's, in poll order) as one batch with the positions of its
  // partitions, then publishes and answers each message; when fenced, marks the partitions for
  // the poller to seek. False when stopping while the store is unavailable.
  bool commit(std::span<const Read> records);
  // Runs the send's done, if it is still waiting (a late reply after its timeout is dropped).
  void complete(std::uint64_t token, Result<chat::Appended> result);
  void on_note(std::string_view payload);
  void on_delivery(std::uint64_t token, const char* error);
  friend struct KafkaCallbacks;

  const KafkaLogOptions options_;
  Store& store_;
  Bus& bus_;
  const Clock& clock_;
  IdGenerator& ids_;

  rd_kafka_s* producer_ = nullptr;
  rd_kafka_s* consumer_ = nullptr;
  // The consumer's queue: a drained lane yields it, so the poller's wait ends at once.
  rd_kafka_queue_s* consumer_queue_ = nullptr;

  std::mutex pending_mutex_;
  std::unordered_map<std::uint64_t, Pending> pending_;
  std::uint64_t next_token_ = 1;

  // The stored position of each partition this node owns: set by the rebalance callback
  // (poller), moved by the partition's lane after each commit. A fenced partition is skipped by
  // its lane until the poller has moved the consumer to its stored position (a new reading).
  std::mutex positions_mutex_;
  std::map<int, Owned> positions_;  // guarded by positions_mutex_
  std::atomic<bool> seek_wanted_{false};  // a lane marked a partition fenced

  std::vector<std::unique_ptr<Lane>> lanes_;
  // Poller only: what the current poll returned, until handed to the lanes (a revoke inside
  // the poll drops it).
  std::vector<rd_kafka_message_s*> polled_;
  std::uint64_t readings_ = 0;  // poller only: the last reading given to a partition

  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> committed_messages_{0};
  std::atomic<bool> stopping_{false};
  std::thread producer_thread_;
  std::thread sequencer_thread_;  // the poller
};

}  // namespace parley
