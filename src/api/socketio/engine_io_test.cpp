// Engine.IO v4 framing, with the examples of the protocol's documentation and test suite.
#include "api/socketio/engine_io.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace parley::api::eio {
namespace {

TEST(EngineIo, TextPacketsCarryTheirTypeDigit) {
  EXPECT_EQ(decode_text("4hello"), (Packet{PacketType::message, "hello", false}));
  EXPECT_EQ(decode_text("2"), (Packet{PacketType::ping, "", false}));
  EXPECT_EQ(decode_text("2probe"), (Packet{PacketType::ping, "probe", false}));
  EXPECT_EQ(encode_text({PacketType::pong, "probe", false}), "3probe");
  EXPECT_EQ(encode_text({PacketType::noop, "", false}), "6");
  EXPECT_FALSE(decode_text("").has_value());
  EXPECT_FALSE(decode_text("abc").has_value());
  EXPECT_FALSE(decode_text("7x").has_value());
}

TEST(EngineIo, APayloadIsPacketsJoinedByRecordSeparatorsWithBinaryInBase64) {
  const auto packets = decode_payload("4hello\x1e" "bAQIDBA==\x1e" "2");
  ASSERT_TRUE(packets.has_value());
  ASSERT_EQ(packets->size(), 3u);
  EXPECT_EQ((*packets)[0], (Packet{PacketType::message, "hello", false}));
  EXPECT_EQ((*packets)[1], (Packet{PacketType::message, std::string("\x01\x02\x03\x04"), true}));
  EXPECT_EQ((*packets)[2], (Packet{PacketType::ping, "", false}));
  // And back, byte for byte (the test suite's echo of "4hello\x1ebAQIDBA==").
  EXPECT_EQ(encode_payload(*packets), "4hello\x1e" "bAQIDBA==\x1e" "2");
  EXPECT_EQ(encode_payload(std::vector<Packet>{{PacketType::message, "test1", false},
                                               {PacketType::message, "test2", false}}),
            "4test1\x1e" "4test2");
}

TEST(EngineIo, AMalformedRecordSpoilsTheWholePayload) {
  EXPECT_FALSE(decode_payload("").has_value());
  EXPECT_FALSE(decode_payload("abc").has_value());
  EXPECT_FALSE(decode_payload("4ok\x1e").has_value());         // an empty record
  EXPECT_FALSE(decode_payload("4ok\x1e" "b%%%").has_value());   // not base64
  EXPECT_FALSE(decode_payload("4ok\x1e" "9x").has_value());     // no such type
}

TEST(EngineIo, TheOpenPacketSaysTheSessionsTermsInTheReferenceOrder) {
  const auto text = open_packet({"abc123", true, 300, 200, 1000000});
  EXPECT_EQ(text, R"(0{"sid":"abc123","upgrades":["websocket"],"pingInterval":300,)"
                  R"("pingTimeout":200,"maxPayload":1000000})");
  const auto ws = open_packet({"s", false, 25000, 20000, 1000000});
  EXPECT_EQ(boost::json::parse(ws.substr(1)).at("upgrades").as_array().size(), 0u);
}

TEST(EngineIo, ErrorsAreTheReferenceServersCodesMessagesAndStatuses) {
  EXPECT_EQ(error_body(kUnknownSid), R"({"code":1,"message":"Session ID unknown"})");
  EXPECT_EQ(kUnknownTransport.status, 400);
  EXPECT_EQ(kForbidden.status, 403);
  EXPECT_EQ(kUnsupportedProtocolVersion.code, 5);
}

}  // namespace
}  // namespace parley::api::eio
