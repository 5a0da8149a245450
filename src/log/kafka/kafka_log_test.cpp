// KafkaLog's URL; the log itself runs against a real broker in tests/integration/test_cluster.py.
#include "log/kafka/kafka_log.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace parley {
namespace {

TEST(KafkaLogUrl, BrokersTopicAndPartitions) {
  auto o = parse_kafka_url("kafka://127.0.0.1:19092");
  EXPECT_EQ(o.brokers, "127.0.0.1:19092");
  EXPECT_EQ(o.topic, "parley.messages");
  EXPECT_EQ(o.group, "parley.messages.sequencer");
  EXPECT_EQ(o.partitions, 16);

  o = parse_kafka_url("kafka://k1:9092,k2:9092/chat.eu?partitions=64");
  EXPECT_EQ(o.brokers, "k1:9092,k2:9092");
  EXPECT_EQ(o.topic, "chat.eu");
  EXPECT_EQ(o.group, "chat.eu.sequencer");  // one sequencer group per topic
  EXPECT_EQ(o.partitions, 64);
}

TEST(KafkaLogUrl, AnythingElseIsRefusedWithTheReason) {
  for (const char* bad : {"redis://127.0.0.1:6379", "kafka://", "kafka://localhost",
                          "kafka://h:1/t?partitions=0", "kafka://h:1/t?partitions=x",
                          "kafka://h:1/t?replicas=3", "kafka://h:1/a/b"}) {
    EXPECT_THROW(parse_kafka_url(bad), std::invalid_argument) << bad;
  }
}

}  // namespace
}  // namespace parley
