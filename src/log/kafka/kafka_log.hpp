#pragma once
// KafkaLog: the cluster MessageLog (docs/operations.md, "Kafka message log"), on librdkafka.
//
// append() produces the message to the topic (key = conversation id, so one conversation is one
// partition) with an idempotent producer and acks=all, and keeps the send's `done` under a token.
// Every node also runs the sequencer: a consumer in one consumer group, so each partition has
// one owner at a time. The owner reads a batch (whatever one poll returns, from the partitions
// it owns), and commits it with Store::append_messages together with each partition's consumed
// position (LogPosition): dedupe by client id, dense seqs from last_seq, all in one transaction
// — one commit per poll, not per partition. A stale owner's commit is
// fenced by that position; a new owner starts where the last commit ended, so a replay assigns
// no seq twice. Then, for each new message, on_sequenced publishes its event (in seq order, from
// one thread), and the send's node learns the result — directly if it is this node, else by a
// note on the Bus — and runs `done`: the ack carries the seq.
//
// Failures: Kafka unreachable → the send fails with `unavailable` after kDeliveryTimeout (not
// acknowledged, nothing stored); the store unreachable → the sequencer retries the batch until it
// commits (Kafka holds the backlog) and sends wait up to kReplyTimeout, then get `unavailable`
// (their message may still be stored later: a retry with the same client_msg_id finds it).
//
// Threads: a producer thread (delivery reports, reply timeouts) and a sequencer thread (consumer,
// store, on_sequenced, replies). done runs on either, or on the bus's thread for notes from
// other nodes. append/drain from any thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
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
#include "log/message_log.hpp"
#include "store/store.hpp"

struct rd_kafka_s;

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
};

// kafka://HOST:PORT[,HOST:PORT…][/TOPIC][?PARAM&…] (default topic parley.messages; the
// sequencers' consumer group is TOPIC.sequencer). PARAMs: partitions=N (when the topic is made:
// default 16), producer.NAME=VALUE and consumer.NAME=VALUE (librdkafka settings, checked by
// librdkafka; those Parley's guarantees rest on are refused). Throws std::invalid_argument for
// anything else, saying why.
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
  void producer_loop();
  void sequencer_loop();
  // Commits one poll's batch with the positions of its partitions, then publishes and answers
  // each message; on fencing, seeks those partitions to what the store holds. False when
  // stopping while the store is unavailable.
  bool commit(std::span<const chat::NewMessage> batch,
              std::span<const std::pair<std::string, std::uint64_t>> origins,
              std::span<const LogPosition> positions);
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

  std::mutex pending_mutex_;
  std::unordered_map<std::uint64_t, Pending> pending_;
  std::uint64_t next_token_ = 1;

  // Sequencer thread only: the stored position of each partition it owns.
  std::map<int, std::int64_t> positions_;

  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> committed_messages_{0};
  std::atomic<bool> stopping_{false};
  std::thread producer_thread_;
  std::thread sequencer_thread_;
};

}  // namespace parley
