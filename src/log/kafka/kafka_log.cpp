#include "log/kafka/kafka_log.hpp"
#include "log/kafka/kafka_wire.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <boost/json.hpp>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "core/logging.hpp"
#include "core/threads.hpp"

namespace parley {

namespace json = boost::json;
using namespace chat;
using namespace kafka_wire;

namespace {

constexpr std::chrono::milliseconds kStoreRetry{200};
// How long a revoke waits for the lanes' commits in flight: commits take milliseconds; one
// taking longer is stuck (a lock, the store away), and waiting for it would hold up the
// consumer group's rebalance (every node's partitions).
constexpr std::chrono::seconds kLaneWait{1};

// ---- librdkafka plumbing

// Parley's settings, then the operator's from the URL (`extra`).
rd_kafka_conf_t* make_conf(const KafkaLogOptions& o,
                           std::initializer_list<std::pair<const char*, std::string>> settings,
                           const std::vector<std::pair<std::string, std::string>>& extra) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  auto set = [&](const char* k, const std::string& v) {
    if (rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(std::string("Kafka setting ") + k + ": " + err);
    }
  };
  set("bootstrap.servers", o.brokers);
  set("client.id", "parley-" + o.node_id);
  for (const auto& [k, v] : settings) set(k, v);
  for (const auto& [k, v] : extra) set(k.c_str(), v);
  return conf;
}

rd_kafka_t* make_client(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);  // owns conf on success
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("Kafka client: ") + err);
  }
  return rk;
}

// Creates the topic unless it exists; throws when Kafka does not answer in time.
void ensure_topic(rd_kafka_t* rk, const KafkaLogOptions& o) {
  char err[512];
  rd_kafka_NewTopic_t* topic =
      rd_kafka_NewTopic_new(o.topic.c_str(), o.partitions, -1, err, sizeof err);
  if (!topic) throw std::runtime_error(std::string("Kafka topic: ") + err);
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &topic, 1, nullptr, queue);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, 15000);
  std::string failure;
  if (!ev) {
    failure = "no answer from " + o.brokers + " within 15 s";
  } else if (rd_kafka_event_error(ev)) {
    failure = rd_kafka_event_error_string(ev);
  } else {
    size_t n = 0;
    const rd_kafka_topic_result_t** results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    for (size_t i = 0; i < n; ++i) {
      const auto code = rd_kafka_topic_result_error(results[i]);
      if (code != RD_KAFKA_RESP_ERR_NO_ERROR && code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        failure = rd_kafka_topic_result_error_string(results[i]);
      }
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(queue);
  rd_kafka_NewTopic_destroy(topic);
  if (!failure.empty()) throw std::runtime_error("Kafka topic " + o.topic + ": " + failure);
}

}  // namespace

// The C callbacks, with access to KafkaLog's private parts.
struct KafkaCallbacks {
  static void delivered(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<KafkaLog*>(opaque);
    const auto token = reinterpret_cast<std::uintptr_t>(m->_private);
    self->on_delivery(token, m->err ? rd_kafka_err2str(m->err) : nullptr);
  }
  // Partition ownership changes. Runs on the poller, inside consumer_poll.
  static void rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t* parts, void* opaque) {
    auto* self = static_cast<KafkaLog*>(opaque);
    if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      // The lanes commit what they hold first, for up to kLaneWait; what they have not taken
      // then is dropped, and a commit still in flight lands or is fenced like any stale
      // owner's (the next owner's commits are fenced by it, or it by theirs).
      if (!self->wait_lanes_idle()) log::warn("event=log_revoke_with_commits_in_flight");
      self->drop_queued();
      self->resume_drained_lanes();  // every lane is empty: nothing stays paused past the revoke
      // What this poll returned before the revoke, not handed yet: read again by whoever owns
      // the partitions next (here, were they assigned back in this same poll, from the stored
      // position — not after records a lane dropped as fenced).
      for (auto* m : self->polled_) rd_kafka_message_destroy(m);
      self->polled_.clear();
      {
        std::lock_guard lock(self->positions_mutex_);
        self->positions_.clear();
      }
      self->seek_wanted_ = false;
      rd_kafka_assign(rk, nullptr);
      log::info("event=log_partitions_revoked");
      return;
    }
    // Start each partition where the last committed batch ended (stored with the messages).
    std::map<int, KafkaLog::Owned> owned;
    for (int i = 0; i < parts->cnt; ++i) {
      auto& p = parts->elems[i];
      for (;;) {
        auto stored = self->store_.log_position(self->options_.topic, p.partition);
        if (stored) {
          p.offset = stored->value_or(RD_KAFKA_OFFSET_BEGINNING);
          owned[p.partition].next = stored->value_or(-1);
          owned[p.partition].reading = ++self->readings_;
          break;
        }
        if (self->stopping_) return;
        log::warn("event=log_position_unavailable partition={} error=\"{}\"", p.partition,
                  stored.error().message);
        std::this_thread::sleep_for(kStoreRetry);
      }
    }
    {
      std::lock_guard lock(self->positions_mutex_);
      self->positions_ = std::move(owned);
    }
    rd_kafka_assign(rk, parts);
    std::string list;
    for (int i = 0; i < parts->cnt; ++i) {
      list += (i ? "," : "") + std::to_string(parts->elems[i].partition);
    }
    log::info("event=log_partitions_assigned count={} partitions={}", parts->cnt, list);
  }
};

namespace {

// Settings Parley's guarantees rest on: an ack means the record is in Kafka on every in-sync
// replica (acks, idempotence), a send fails in kDeliveryTimeout, and the sequencer alone decides
// where each partition is read from (its positions are stored with the messages).
constexpr std::string_view kFixedSettings[] = {
    "bootstrap.servers",  "acks",  "request.required.acks", "enable.idempotence",
    "message.timeout.ms", "delivery.timeout.ms", "group.id", "enable.auto.commit",
    "enable.auto.offset.store", "auto.offset.reset"};

// One producer.NAME=VALUE or consumer.NAME=VALUE of the URL, checked by librdkafka itself.
void add_setting(KafkaLogOptions& o, std::string_view param, const std::string& url) {
  const auto eq = param.find('=');
  const auto dot = param.find('.');
  const std::string_view role = param.substr(0, std::min(dot, eq));
  if (eq == std::string_view::npos || dot > eq || (role != "producer" && role != "consumer")) {
    throw std::invalid_argument("unknown parameter '" + std::string(param) + "' in " + url +
                                " (partitions=N, producer.NAME=VALUE or consumer.NAME=VALUE)");
  }
  const std::string name(param.substr(dot + 1, eq - dot - 1));
  const std::string value(param.substr(eq + 1));
  for (const auto fixed : kFixedSettings) {
    if (name == fixed) {
      throw std::invalid_argument(std::string(role) + "." + name +
                                  " is Parley's to set: acknowledged sends and the sequencer's "
                                  "positions depend on it");
    }
  }
  // The sequencer's rebalance callback takes and gives up partitions eagerly (rd_kafka_assign);
  // a cooperative assignor hands them over incrementally, which it does not follow.
  if (name == "partition.assignment.strategy" && value.find("cooperative") != std::string::npos) {
    throw std::invalid_argument(std::string(role) + "." + name + "=" + value +
                                ": the sequencer needs an eager assignor (range, roundrobin)");
  }
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  const auto checked = rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err);
  rd_kafka_conf_destroy(conf);
  if (checked != RD_KAFKA_CONF_OK) {
    throw std::invalid_argument(std::string(role) + "." + name + ": " + err);
  }
  (role == "producer" ? o.producer_settings : o.consumer_settings).emplace_back(name, value);
}

// NAME=N of the URL, when param is one: N, checked to lie in [min, max].
std::optional<int> count_param(std::string_view param, std::string_view name, int min, int max,
                               const std::string& url) {
  if (!param.starts_with(name)) return std::nullopt;
  const std::string digits(param.substr(name.size()));
  std::size_t used = 0;
  int n = 0;
  try {
    n = std::stoi(digits, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != digits.size() || n < min || n > max) {
    throw std::invalid_argument(std::string(name) + "N (" + std::to_string(min) + "…" +
                                std::to_string(max) + ") expected, got " + url);
  }
  return n;
}

}  // namespace

KafkaLogOptions parse_kafka_url(const std::string& url) {
  constexpr std::string_view scheme = "kafka://";
  if (!url.starts_with(scheme)) throw std::invalid_argument("not a kafka:// URL: " + url);
  KafkaLogOptions o;
  o.brokers = url.substr(scheme.size());
  if (const auto q = o.brokers.find('?'); q != std::string::npos) {
    const std::string query = o.brokers.substr(q + 1);
    o.brokers.resize(q);
    std::size_t at = 0;
    while (at <= query.size()) {
      const auto amp = std::min(query.find('&', at), query.size());
      const std::string_view param = std::string_view(query).substr(at, amp - at);
      if (auto n = count_param(param, "partitions=", 1, 10000, url)) {
        o.partitions = *n;
      } else if (auto l = count_param(param, "lanes=", 1, 64, url)) {
        o.lanes = *l;
      } else {
        add_setting(o, param, url);
      }
      at = amp + 1;
    }
  }
  if (const auto slash = o.brokers.find('/'); slash != std::string::npos) {
    if (slash + 1 < o.brokers.size()) o.topic = o.brokers.substr(slash + 1);
    o.brokers.resize(slash);
  }
  if (o.brokers.empty() || o.brokers.find(':') == std::string::npos || o.topic.empty() ||
      o.topic.find_first_of("/?#") != std::string::npos) {
    throw std::invalid_argument("kafka://HOST:PORT[,HOST:PORT…][/TOPIC] expected, got " + url);
  }
  o.group = o.topic + ".sequencer";
  return o;
}

KafkaLog::KafkaLog(KafkaLogOptions options, Store& store, Bus& bus, const Clock& clock,
                   IdGenerator& ids)
    : options_(std::move(options)), store_(store), bus_(bus), clock_(clock), ids_(ids) {
  rd_kafka_conf_t* pconf = make_conf(
      options_, {{"enable.idempotence", "true"},
                 {"acks", "all"},
                 // Sent at once: measured, 1 ms of lingering added 1.3 ms to the p50 at
                 // 1,000 messages/s and saved no CPU there or at 3,000/s (docs/performance.md).
                 {"linger.ms", "0"},
                 // Only failures are reported: a success needs no action (the sequencer's reply
                 // completes the send), and each report woke the producer thread (4 % of a
                 // node's CPU at 1,000 messages/s).
                 {"delivery.report.only.error", "true"},
                 {"message.timeout.ms", std::to_string(kDeliveryTimeout.count())}},
      options_.producer_settings);
  rd_kafka_conf_set_dr_msg_cb(pconf, &KafkaCallbacks::delivered);
  rd_kafka_conf_set_opaque(pconf, this);
  producer_ = make_client(RD_KAFKA_PRODUCER, pconf);
  try {
    ensure_topic(producer_, options_);
    rd_kafka_conf_t* cconf = make_conf(options_, {{"group.id", options_.group},
                                                  {"enable.auto.commit", "false"},
                                                  {"enable.auto.offset.store", "false"},
                                                  {"auto.offset.reset", "earliest"},
                                                  {"session.timeout.ms", "6000"},
                                                  {"heartbeat.interval.ms", "1000"}},
                                       options_.consumer_settings);
    rd_kafka_conf_set_rebalance_cb(cconf, &KafkaCallbacks::rebalance);
    rd_kafka_conf_set_opaque(cconf, this);
    consumer_ = make_client(RD_KAFKA_CONSUMER, cconf);
  } catch (...) {
    rd_kafka_destroy(producer_);
    throw;
  }
  rd_kafka_poll_set_consumer(consumer_);
  consumer_queue_ = rd_kafka_queue_get_consumer(consumer_);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, options_.topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(consumer_, topics);
  rd_kafka_topic_partition_list_destroy(topics);

  bus_.set_note_sink([this](std::string_view payload) { on_note(payload); });
  producer_thread_ = named_thread("kafka-producer", [this] { producer_loop(); });
  for (int k = 0; k < options_.lanes; ++k) {
    auto& lane = *lanes_.emplace_back(std::make_unique<Lane>());
    lane.thread =
        named_thread("kafka-lane-" + std::to_string(k), [this, &lane] { lane_loop(lane); });
  }
  sequencer_thread_ = named_thread("kafka-sequencer", [this] { sequencer_loop(); });
  log::info("event=log_connected brokers={} topic={}", options_.brokers, options_.topic);
}

KafkaLog::~KafkaLog() {
  drain();
  rd_kafka_queue_destroy(consumer_queue_);
  rd_kafka_destroy(consumer_);
  rd_kafka_destroy(producer_);
}

void KafkaLog::append(NewMessage message, Done done) {
  std::uint64_t token;
  {
    std::lock_guard lock(pending_mutex_);
    if (stopping_) {
      done(make_error(Errc::unavailable, "server is shutting down"));
      return;
    }
    token = next_token_++;
    pending_.emplace(token, Pending{std::move(done),
                                    std::chrono::steady_clock::now() + kReplyTimeout});
  }
  const std::string value = encode_send(options_.node_id, token, message);
  // librdkafka's RD_KAFKA_V_* macros are C: they cast the C way.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
  const auto err = rd_kafka_producev(
      producer_, RD_KAFKA_V_TOPIC(options_.topic.c_str()),
      RD_KAFKA_V_KEY(message.conv.data(), message.conv.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<std::uintptr_t>(token))),
      RD_KAFKA_V_END);
#pragma GCC diagnostic pop
  if (err) on_delivery(token, rd_kafka_err2str(err));
}

void KafkaLog::on_delivery(std::uint64_t token, const char* error) {
  // Successes are not reported (delivery.report.only.error): the sequencer's reply completes it.
  if (!error) return;
  log::warn("event=log_produce_failed error=\"{}\"", error);
  complete(token, make_error(Errc::unavailable,
                             std::string("the message log did not take the message: ") + error));
}

void KafkaLog::complete(std::uint64_t token, Result<Appended> result) {
  Done done;
  {
    std::lock_guard lock(pending_mutex_);
    auto it = pending_.find(token);
    if (it == pending_.end()) return;
    done = std::move(it->second.done);
    pending_.erase(it);
  }
  done(std::move(result));
}

void KafkaLog::on_note(std::string_view payload) {
  auto reply = decode_reply(payload);
  if (!reply) {
    log::warn("event=log_bad_reply");
    return;
  }
  complete(reply->first, std::move(reply->second));
}

void KafkaLog::producer_loop() {
  while (!stopping_) {
    rd_kafka_poll(producer_, 100);  // delivery reports
    // Sends whose reply is overdue: the store may be down. Not acknowledged; a retry with the
    // same client_msg_id returns the message if it was stored after all.
    std::vector<Done> expired;
    const auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(pending_mutex_);
      for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->second.deadline <= now) {
          expired.push_back(std::move(it->second.done));
          it = pending_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& done : expired) {
      done(make_error(Errc::unavailable,
                      "the message was not sequenced in time; retry with the same client_msg_id"));
    }
  }
}

void KafkaLog::sequencer_loop() {
  auto& polled = polled_;
  std::vector<std::vector<Read>> by_lane(lanes_.size());
  while (!stopping_) {
    resume_drained_lanes();
    if (seek_wanted_.exchange(false)) seek_fenced();
    // Whatever arrives within 100 ms of waiting for the first record, up to max_batch. It does
    // not wait for more after the first (as the embedded writer's window does): at low rates
    // that cost 1.8 ms of p50 for 4 % less CPU, and at high rates records gather while the
    // lanes commit (docs/performance.md, "Two nodes").
    if (rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_, 100)) polled.push_back(m);
    while (!polled.empty() && polled.size() < options_.max_batch) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_, 0);
      if (!m) break;
      polled.push_back(m);
    }
    {
      // Each record with its partition's current reading: the poller alone seeks and takes
      // partitions, so every record polled since the last of those came from it.
      std::lock_guard lock(positions_mutex_);
      for (auto* m : polled) {
        if (m->err) {
          if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            log::warn("event=log_consume_error error=\"{}\"", rd_kafka_message_errstr(m));
          }
          rd_kafka_message_destroy(m);
          continue;
        }
        const auto owned = positions_.find(m->partition);
        by_lane[static_cast<std::size_t>(m->partition) % lanes_.size()].push_back(
            {m, owned == positions_.end() ? 0 : owned->second.reading});
      }
    }
    polled.clear();
    for (std::size_t k = 0; k < lanes_.size(); ++k) {
      if (!by_lane[k].empty()) hand(k, by_lane[k]);
    }
  }
}

void KafkaLog::hand(std::size_t k, std::vector<Read>& records) {
  Lane& lane = *lanes_[k];
  std::size_t queued = 0;
  {
    std::lock_guard lock(lane.mutex);
    if (stopping_) {
      for (const Read& r : records) rd_kafka_message_destroy(r.record);
    } else {
      // Only an idle lane needs waking: a busy one looks at its queue when its commit is done.
      const bool wake = lane.queued.empty() && !lane.busy;
      lane.queued.insert(lane.queued.end(), records.begin(), records.end());
      if (wake) lane.work.notify_one();
      queued = lane.queued.size();
    }
  }
  records.clear();
  if (queued >= options_.max_batch && !lane.paused) pause_lane(k, queued);
}

std::vector<int> KafkaLog::lane_partitions(std::size_t k) {
  std::vector<int> partitions;
  std::lock_guard lock(positions_mutex_);
  for (const auto& [partition, owned] : positions_) {
    if (static_cast<std::size_t>(partition) % lanes_.size() == k) partitions.push_back(partition);
  }
  return partitions;
}

namespace {
// rd_kafka_pause_partitions or rd_kafka_resume_partitions on `partitions` of `topic`.
void pause_or_resume(rd_kafka_t* consumer, bool pause, const std::string& topic,
                     const std::vector<int>& partitions) {
  auto* list = rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size()));
  for (int p : partitions) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
  if (pause) {
    rd_kafka_pause_partitions(consumer, list);
  } else {
    rd_kafka_resume_partitions(consumer, list);
  }
  rd_kafka_topic_partition_list_destroy(list);
}
}  // namespace

void KafkaLog::pause_lane(std::size_t k, std::size_t queued) {
  Lane& lane = *lanes_[k];
  lane.paused = true;
  lane.drained = false;
  lane.paused_partitions = lane_partitions(k);
  // Records of these partitions fetched and not yet polled are dropped by librdkafka, and on
  // resume it fetches from the offset after the last one polled: none is skipped or read twice.
  pause_or_resume(consumer_, true, options_.topic, lane.paused_partitions);
  log::warn("event=log_lane_paused lane={} queued={} partitions={}", k, queued,
            lane.paused_partitions.size());
}

void KafkaLog::resume_drained_lanes() {
  for (std::size_t k = 0; k < lanes_.size(); ++k) {
    Lane& lane = *lanes_[k];
    if (!lane.paused) continue;
    {
      std::lock_guard lock(lane.mutex);
      if (lane.queued.size() > options_.max_batch / 2) continue;
    }
    pause_or_resume(consumer_, false, options_.topic, lane.paused_partitions);
    lane.paused = false;
    lane.paused_partitions.clear();
    log::info("event=log_lane_resumed lane={}", k);
  }
}

bool KafkaLog::wait_lanes_idle() {
  const auto deadline = std::chrono::steady_clock::now() + kLaneWait;
  bool idle = true;
  for (auto& lane : lanes_) {
    std::unique_lock lock(lane->mutex);
    idle = lane->idle.wait_until(lock, deadline, [&] {
      return stopping_ || (!lane->busy && lane->queued.empty());
    }) && idle;
  }
  return idle;
}

void KafkaLog::drop_queued() {
  for (auto& lane : lanes_) {
    std::lock_guard lock(lane->mutex);
    for (const Read& r : lane->queued) rd_kafka_message_destroy(r.record);
    lane->queued.clear();
  }
}

void KafkaLog::seek_fenced() {
  // Each fenced partition gets a new reading: the records of the old one that a lane holds, or
  // takes before the seek, are skipped (read again), and those polled after it are of the new.
  std::vector<std::pair<int, std::int64_t>> seeks;
  {
    std::lock_guard lock(positions_mutex_);
    for (auto& [partition, owned] : positions_) {
      if (!owned.fenced) continue;
      owned.fenced = false;
      owned.reading = ++readings_;
      seeks.emplace_back(partition, owned.next < 0 ? RD_KAFKA_OFFSET_BEGINNING : owned.next);
    }
  }
  if (seeks.empty()) return;
  // One call for all of them, so the poller waits at most this long. librdkafka before 2.1.0
  // took the timeout in microseconds (its issue #4230).
  const int timeout = rd_kafka_version() < 0x02010000 ? 1'000'000 : 1'000;
  auto* list = rd_kafka_topic_partition_list_new(static_cast<int>(seeks.size()));
  for (const auto& [partition, offset] : seeks) {
    rd_kafka_topic_partition_list_add(list, options_.topic.c_str(), partition)->offset = offset;
  }
  std::string failure;
  if (auto* e = rd_kafka_seek_partitions(consumer_, list, timeout)) {
    failure = rd_kafka_error_string(e);
    rd_kafka_error_destroy(e);
  }
  for (int i = 0; i < list->cnt; ++i) {
    const auto& p = list->elems[i];
    if (failure.empty() && !p.err) continue;
    // Not moved, or not known to be: the partition stays fenced (its lane skips it) and the
    // poller seeks it again on its next round, as a new reading.
    log::warn("event=log_seek_failed partition={} error=\"{}\"", p.partition,
              failure.empty() ? rd_kafka_err2str(p.err) : failure);
    std::lock_guard lock(positions_mutex_);
    if (auto owned = positions_.find(p.partition); owned != positions_.end()) {
      owned->second.fenced = true;
      seek_wanted_ = true;
    }
  }
  rd_kafka_topic_partition_list_destroy(list);
}

void KafkaLog::lane_loop(Lane& lane) {
  std::vector<Read> records;
  for (;;) {
    {
      std::unique_lock lock(lane.mutex);
      lane.busy = false;
      lane.idle.notify_all();  // the poller may wait for the lane to be idle
      lane.work.wait(lock, [&] { return stopping_ || !lane.queued.empty(); });
      if (stopping_) return;  // what is queued stays in Kafka for the next owner
      records.swap(lane.queued);
      lane.busy = true;
    }
    // A paused lane's queue is empty now: the poller resumes its partitions without waiting
    // out its poll.
    if (lane.drained.exchange(true) == false) rd_kafka_queue_yield(consumer_queue_);
    const bool committed = commit(records);
    for (const Read& r : records) rd_kafka_message_destroy(r.record);
    records.clear();
    if (!committed) return;  // stopping
  }
}

bool KafkaLog::commit(std::span<const Read> records) {
  // Each partition's records in poll order (so in offset order), from the position it owns:
  // every partition of the batch in one transaction, one commit.
  std::map<int, std::vector<rd_kafka_message_t*>> by_partition;
  std::vector<LogPosition> positions;
  {
    std::lock_guard lock(positions_mutex_);
    auto selected = kafka_lanes::select_lane_batch(records, positions_);
    if (selected.fenced_some) seek_wanted_ = true;
    by_partition = std::move(selected.by_partition);
    for (const auto& [partition, list] : by_partition) {
      // Selected from positions_ under the same lock: at(), not operator[], which would add one.
      positions.push_back(
          {options_.topic, partition, positions_.at(partition).next, list.back()->offset + 1});
    }
  }
  if (positions.empty()) return true;
  std::vector<NewMessage> batch;
  std::vector<std::pair<std::string, std::uint64_t>> origins;
  for (const auto& [partition, list] : by_partition) {
    for (auto* m : list) {
      auto send = decode_send(std::string_view(static_cast<const char*>(m->payload), m->len));
      if (!send) {
        log::warn("event=log_bad_record partition={} offset={}", partition, m->offset);
        continue;  // skipped, and the position moves past it
      }
      origins.emplace_back(std::move(send->node), send->token);
      batch.push_back(std::move(send->msg));
    }
  }
  std::vector<Result<Appended>> results;
  auto failed_with = [&](Errc code) {
    return !results.empty() && !results[0] && results[0].error().code == code;
  };
  for (;;) {
    results = store_.append_messages(batch, clock_.now_ms(), ids_, positions);
    if (!failed_with(Errc::unavailable) || stopping_) break;
    log::warn("event=log_store_unavailable partitions={} error=\"{}\"", positions.size(),
              results[0].error().message);
    std::this_thread::sleep_for(kStoreRetry);  // Kafka keeps the backlog meanwhile
  }
  if (failed_with(Errc::unavailable)) return false;  // stopping: the next owner reads it again
  if (failed_with(Errc::conflict) && results[0].error().message == fenced_error().message) {
    // Another node committed one of these partitions: each goes on from what is stored (for
    // the others, that is where this batch started: they are read again). The poller moves the
    // consumer there; until then this lane skips them.
    std::vector<std::pair<int, std::int64_t>> stored;
    for (const LogPosition& position : positions) {
      log::warn("event=log_fenced partition={}", position.partition);
      auto now_stored = store_.log_position(options_.topic, position.partition);
      // None stored: from the partition's beginning (-1), as at an assignment.
      stored.emplace_back(position.partition,
                          now_stored ? now_stored->value_or(-1) : position.from);
    }
    {
      std::lock_guard lock(positions_mutex_);
      for (const auto& [partition, next] : stored) {
        auto owned = positions_.find(partition);
        if (owned == positions_.end()) continue;  // revoked meanwhile
        // What is stored, even if behind what this node committed: PostgreSQL may have lost
        // commits it had not flushed (--log-commits replayable, a failover), and the records
        // are read again from there, writing the same rows.
        owned->second.next = next;
        owned->second.fenced = true;
        owned->second.gap_read_again_at = -1;
      }
    }
    seek_wanted_ = true;
    return true;
  }
  {
    std::lock_guard lock(positions_mutex_);
    for (const LogPosition& position : positions) {
      auto owned = positions_.find(position.partition);
      // max: the partition may have been given up and taken back meanwhile, from a newer
      // stored position than this commit's.
      if (owned != positions_.end()) owned->second.next = std::max(owned->second.next, position.to);
    }
  }
  ++commits_;
  committed_messages_ += batch.size();
  for (std::size_t i = 0; i < results.size(); ++i) {
    sequenced(results[i]);
    const auto& [node, token] = origins[i];
    if (node == options_.node_id) {
      complete(token, std::move(results[i]));
    } else {
      bus_.send_to_node(node, encode_reply(token, results[i]));
    }
  }
  return true;
}

void KafkaLog::drain() {
  if (stopping_.exchange(true)) return;
  // What was produced reaches Kafka (or fails) before the producer stops.
  rd_kafka_flush(producer_, static_cast<int>(kDeliveryTimeout.count()));
  for (auto& lane : lanes_) {  // stopping_ is read under each lane's mutex: no wake-up lost
    { std::lock_guard lock(lane->mutex); }
    lane->work.notify_all();
    lane->idle.notify_all();
  }
  if (sequencer_thread_.joinable()) sequencer_thread_.join();
  for (auto& lane : lanes_) {
    if (lane->thread.joinable()) lane->thread.join();
    for (const Read& r : lane->queued) rd_kafka_message_destroy(r.record);  // read again
    lane->queued.clear();
  }
  if (producer_thread_.joinable()) producer_thread_.join();
  rd_kafka_consumer_close(consumer_);
  std::vector<Done> waiting;
  {
    std::lock_guard lock(pending_mutex_);
    for (auto& [token, p] : pending_) waiting.push_back(std::move(p.done));
    pending_.clear();
  }
  for (auto& done : waiting) {
    done(make_error(Errc::unavailable,
                    "server is shutting down; retry with the same client_msg_id"));
  }
}

}  // namespace parley
