// KafkaLog's URL and its records; the log itself runs against a real broker in
// tests/integration/test_cluster.py.
#include "log/kafka/kafka_log.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "fakes/every_field.hpp"
#include "log/kafka/kafka_wire.hpp"

namespace parley {
namespace {

TEST(KafkaLogUrl, BrokersTopicAndPartitions) {
  auto o = parse_kafka_url("kafka://127.0.0.1:19092");
  EXPECT_EQ(o.brokers, "127.0.0.1:19092");
  EXPECT_EQ(o.topic, "parley.messages");
  EXPECT_EQ(o.group, "parley.messages.sequencer");
  EXPECT_EQ(o.partitions, 16);
  EXPECT_EQ(o.lanes, 2);

  o = parse_kafka_url("kafka://k1:9092,k2:9092/chat.eu?partitions=64&lanes=8");
  EXPECT_EQ(o.brokers, "k1:9092,k2:9092");
  EXPECT_EQ(o.topic, "chat.eu");
  EXPECT_EQ(o.group, "chat.eu.sequencer");  // one sequencer group per topic
  EXPECT_EQ(o.partitions, 64);
  EXPECT_EQ(o.lanes, 8);  // the sequencer's commits in flight
}

TEST(KafkaLogUrl, LibrdkafkaSettingsForTheProducerAndTheConsumer) {
  const auto o = parse_kafka_url(
      "kafka://k:9092/t?producer.linger.ms=5&partitions=8&consumer.fetch.wait.max.ms=20");
  EXPECT_EQ(o.partitions, 8);
  using Settings = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(o.producer_settings, (Settings{{"linger.ms", "5"}}));
  EXPECT_EQ(o.consumer_settings, (Settings{{"fetch.wait.max.ms", "20"}}));
}

TEST(KafkaLogUrl, SettingsLibrdkafkaRefusesOrParleyFixesAreRefusedWithTheReason) {
  auto refused = [](const char* url) -> std::string {
    try {
      parse_kafka_url(url);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "accepted";
  };
  EXPECT_NE(refused("kafka://k:9092/t?producer.no.such.setting=1").find("No such configuration"),
            std::string::npos);
  EXPECT_NE(refused("kafka://k:9092/t?producer.linger.ms=soon").find("producer.linger.ms"),
            std::string::npos);
  for (const char* fixed : {"kafka://k:9092/t?producer.acks=1",
                            "kafka://k:9092/t?producer.enable.idempotence=false",
                            "kafka://k:9092/t?consumer.enable.auto.commit=true",
                            "kafka://k:9092/t?consumer.auto.offset.reset=latest"}) {
    EXPECT_NE(refused(fixed).find("is Parley's to set"), std::string::npos) << fixed;
  }
  EXPECT_NE(refused("kafka://k:9092/t?admin.x=1").find("unknown parameter"), std::string::npos);
  EXPECT_NE(refused("kafka://k:9092/t?consumer.partition.assignment.strategy=cooperative-sticky")
                .find("eager assignor"),
            std::string::npos);
  EXPECT_EQ(refused("kafka://k:9092/t?consumer.partition.assignment.strategy=roundrobin"),
            "accepted");
}

TEST(KafkaLogUrl, AnythingElseIsRefusedWithTheReason) {
  for (const char* bad : {"redis://127.0.0.1:6379", "kafka://", "kafka://localhost",
                          "kafka://h:1/t?partitions=0", "kafka://h:1/t?partitions=x",
                          "kafka://h:1/t?lanes=0", "kafka://h:1/t?lanes=65", "kafka://h:1/t?lanes=x",
                          "kafka://h:1/t?replicas=3", "kafka://h:1/a/b"}) {
    EXPECT_THROW(parse_kafka_url(bad), std::invalid_argument) << bad;
  }
}

TEST(KafkaWire, ASendCarriesEverySubmittedField) {
  const auto m = testing::with_every_field<chat::NewMessage>();
  const auto back = kafka_wire::decode_send(kafka_wire::encode_send("node-a", 17, m));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->node, "node-a");
  EXPECT_EQ(back->token, 17u);
  testing::expect_same_fields(m, back->msg);
}

TEST(KafkaWire, AReplyCarriesEveryFieldOfTheStoredMessageOrTheError) {
  const auto m = testing::with_every_field<chat::Message>();
  const auto ok = kafka_wire::decode_reply(
      kafka_wire::encode_reply(5, Result<chat::Appended>(chat::Appended{m, true})));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->first, 5u);
  ASSERT_TRUE(ok->second.ok());
  EXPECT_TRUE(ok->second->duplicate);
  testing::expect_same_fields(m, ok->second->msg);

  const auto failed = kafka_wire::decode_reply(kafka_wire::encode_reply(
      6, Result<chat::Appended>(make_error(Errc::not_member, "not a member"))));
  ASSERT_TRUE(failed.has_value());
  ASSERT_FALSE(failed->second.ok());
  EXPECT_EQ(failed->second.error().code, Errc::not_member);
  EXPECT_EQ(failed->second.error().message, "not a member");
}

TEST(KafkaWire, ASendFromTheBuildBeforeTheFieldListStillReads) {
  // As encode_send wrote it before chat/message_fields.hpp: the same keys, flat.
  const auto back = kafka_wire::decode_send(
      R"({"n":"node-b","t":3,"c":"conv","s":42,"f":"alice","k":"client-1","b":"hi","r":2})");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->msg.conv, "conv");
  EXPECT_EQ(back->msg.sender_id, 42);
  EXPECT_EQ(back->msg.from, "alice");
  EXPECT_EQ(back->msg.client_msg_id, "client-1");
  EXPECT_EQ(back->msg.body, "hi");
  EXPECT_EQ(back->msg.reply_to, 2);
}

TEST(KafkaWire, ARecordParleyDidNotWriteIsNotASend) {
  EXPECT_FALSE(kafka_wire::decode_send("not json").has_value());
  EXPECT_FALSE(kafka_wire::decode_send(R"({"n":"x","t":1,"c":"conv"})").has_value());  // no body…
  EXPECT_FALSE(kafka_wire::decode_send(R"({"n":"x","t":1,"c":5,"s":1,"f":"a","k":"k","b":"b"})")
                   .has_value());  // conv not a string
}

}  // namespace
}  // namespace parley
