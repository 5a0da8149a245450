#include "log/kafka/kafka_log.hpp"
#include "log/kafka/kafka_wire.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <boost/json.hpp>
#include <memory>
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
  // Partition ownership changes. Runs on the sequencer thread, inside consumer_poll.
  static void rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t* parts, void* opaque) {
    auto* self = static_cast<KafkaLog*>(opaque);
    if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      self->positions_.clear();
      rd_kafka_assign(rk, nullptr);
      log::info("event=log_partitions_revoked");
      return;
    }
    // Start each partition where the last committed batch ended (stored with the messages).
    for (int i = 0; i < parts->cnt; ++i) {
      auto& p = parts->elems[i];
      for (;;) {
        auto stored = self->store_.log_position(self->options_.topic, p.partition);
        if (stored) {
          p.offset = stored->value_or(RD_KAFKA_OFFSET_BEGINNING);
          self->positions_[p.partition] = stored->value_or(-1);
          break;
        }
        if (self->stopping_) return;
        log::warn("event=log_position_unavailable partition={} error=\"{}\"", p.partition,
                  stored.error().message);
        std::this_thread::sleep_for(kStoreRetry);
      }
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
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  const auto checked = rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err);
  rd_kafka_conf_destroy(conf);
  if (checked != RD_KAFKA_CONF_OK) {
    throw std::invalid_argument(std::string(role) + "." + name + ": " + err);
  }
  (role == "producer" ? o.producer_settings : o.consumer_settings).emplace_back(name, value);
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
      constexpr std::string_view partitions = "partitions=";
      if (param.starts_with(partitions)) {
        std::size_t used = 0;
        try {
          o.partitions = std::stoi(std::string(param.substr(partitions.size())), &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || partitions.size() + used != param.size() || o.partitions < 1 ||
            o.partitions > 10000) {
          throw std::invalid_argument("partitions=N (1…10000) expected, got " + url);
        }
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
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, options_.topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(consumer_, topics);
  rd_kafka_topic_partition_list_destroy(topics);

  bus_.set_note_sink([this](std::string_view payload) { on_note(payload); });
  producer_thread_ = named_thread("kafka-producer", [this] { producer_loop(); });
  sequencer_thread_ = named_thread("kafka-sequencer", [this] { sequencer_loop(); });
  log::info("event=log_connected brokers={} topic={}", options_.brokers, options_.topic);
}

KafkaLog::~KafkaLog() {
  drain();
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
  std::vector<rd_kafka_message_t*> polled;
  while (!stopping_) {
    // A batch: whatever arrives within 100 ms of waiting for the first record, up to max_batch.
    // It does not wait for more after the first (as the embedded writer's window does): at low
    // rates that cost 1.8 ms of p50 for 4 % less CPU, and at high rates records gather while
    // the previous batch commits (docs/performance.md, "Two nodes").
    if (rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_, 100)) polled.push_back(m);
    while (!polled.empty() && polled.size() < options_.max_batch) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_, 0);
      if (!m) break;
      polled.push_back(m);
    }
    // Group by partition, keeping each partition's order.
    std::map<int, std::vector<rd_kafka_message_t*>> by_partition;
    for (auto* m : polled) {
      if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          log::warn("event=log_consume_error error=\"{}\"", rd_kafka_message_errstr(m));
        }
        continue;
      }
      by_partition[m->partition].push_back(m);
    }
    // Every partition of the poll in one transaction: one commit, one fsync, per poll.
    std::vector<NewMessage> batch;
    std::vector<std::pair<std::string, std::uint64_t>> origins;
    std::vector<LogPosition> positions;
    for (auto& [partition, records] : by_partition) {
      auto owned = positions_.find(partition);
      if (owned == positions_.end()) continue;  // revoked meanwhile
      for (auto* m : records) {
        auto send = decode_send(
            std::string_view(static_cast<const char*>(m->payload), m->len));
        if (!send) {
          log::warn("event=log_bad_record partition={} offset={}", partition, m->offset);
          continue;  // skipped, and the position moves past it
        }
        origins.emplace_back(std::move(send->node), send->token);
        batch.push_back(std::move(send->msg));
      }
      positions.push_back({options_.topic, partition, owned->second, records.back()->offset + 1});
    }
    if (!positions.empty() && !commit(batch, origins, positions)) break;  // stopping
    for (auto* m : polled) rd_kafka_message_destroy(m);
    polled.clear();
  }
  for (auto* m : polled) rd_kafka_message_destroy(m);
}

bool KafkaLog::commit(std::span<const NewMessage> batch,
                      std::span<const std::pair<std::string, std::uint64_t>> origins,
                      std::span<const LogPosition> positions) {
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
    // the others, that is where this batch started: they are read again).
    for (const LogPosition& position : positions) {
      log::warn("event=log_fenced partition={}", position.partition);
      auto owned = positions_.find(position.partition);
      if (owned == positions_.end()) continue;  // revoked meanwhile
      auto stored = store_.log_position(options_.topic, position.partition);
      owned->second = stored && *stored ? **stored : position.from;
      auto* list = rd_kafka_topic_partition_list_new(1);
      rd_kafka_topic_partition_list_add(list, options_.topic.c_str(), position.partition)->offset =
          owned->second;
      if (auto* e = rd_kafka_seek_partitions(consumer_, list, 1000)) rd_kafka_error_destroy(e);
      rd_kafka_topic_partition_list_destroy(list);
    }
    return true;
  }
  for (const LogPosition& position : positions) positions_[position.partition] = position.to;
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
  if (sequencer_thread_.joinable()) sequencer_thread_.join();
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
