// Socket.IO v5 packets, with the examples of the protocol's documentation and test suite.
#include "api/socketio/socket_io.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace parley::api::sio {
namespace {

namespace json = boost::json;

Packet ok(std::string_view text) {
  auto p = decode(text);
  EXPECT_TRUE(p.ok()) << text << ": " << (p.ok() ? "" : p.error().message);
  return p.ok() ? std::move(*p) : Packet{};
}

std::string why(std::string_view text) {
  auto p = decode(text);
  return p.ok() ? "decoded" : p.error().message;
}

TEST(SocketIo, ConnectToTheMainOrACustomNamespaceWithOrWithoutAuth) {
  auto main = ok("0");
  EXPECT_EQ(main.type, PacketType::connect);
  EXPECT_EQ(main.nsp, "/");
  EXPECT_TRUE(main.data.is_null());
  auto with_auth = ok(R"(0{"token":"123"})");
  EXPECT_EQ(with_auth.data.at("token").as_string(), "123");
  // The namespace runs to a comma or to the end.
  EXPECT_EQ(ok("0/custom,").nsp, "/custom");
  EXPECT_EQ(ok("0/custom").nsp, "/custom");
  auto custom = ok(R"(0/custom,{"token":"abc"})");
  EXPECT_EQ(custom.nsp, "/custom");
  EXPECT_EQ(custom.data.at("token").as_string(), "abc");
}

TEST(SocketIo, EventsAndAcksWithIds) {
  auto event = ok(R"(2["message",1,"2",{"3":[true]}])");
  EXPECT_EQ(event.type, PacketType::event);
  EXPECT_FALSE(event.id.has_value());
  EXPECT_EQ(event.data.as_array().size(), 4u);
  auto with_ack = ok(R"(2456["message-with-ack",1,"2",{"3":[false]}])");
  EXPECT_EQ(with_ack.id, 456);
  auto ack = ok(R"(3/custom,456[1,"2"])");
  EXPECT_EQ(ack.type, PacketType::ack);
  EXPECT_EQ(ack.nsp, "/custom");
  EXPECT_EQ(ack.id, 456);
}

TEST(SocketIo, EncodingWritesTheNamespaceOnlyWhenNotMainAndAlwaysWithItsComma) {
  Packet connected{PacketType::connect, "/", std::nullopt, json::object{{"sid", "x"}}, 0, {}};
  EXPECT_EQ(encode(connected), R"(0{"sid":"x"})");
  connected.nsp = "/custom";
  EXPECT_EQ(encode(connected), R"(0/custom,{"sid":"x"})");
  Packet refused{PacketType::connect_error, "/random", std::nullopt,
                 json::object{{"message", "Invalid namespace"}}, 0, {}};
  EXPECT_EQ(encode(refused), R"(4/random,{"message":"Invalid namespace"})");
  Packet ack{PacketType::ack, "/", 456, json::array{1, "2"}, 0, {}};
  EXPECT_EQ(encode(ack), R"(3456[1,"2"])");
  Packet bye{PacketType::disconnect, "/custom", std::nullopt, nullptr, 0, {}};
  EXPECT_EQ(encode(bye), "1/custom,");
  // Round trip.
  EXPECT_EQ(encode(ok(R"(2/custom,7["a",{"b":[1,null]}])")), R"(2/custom,7["a",{"b":[1,null]}])");
}

TEST(SocketIo, BinaryPacketsCountTheirAttachmentsAndTheAssemblerGathersThem) {
  auto p = ok(R"(52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])");
  EXPECT_EQ(p.type, PacketType::binary_event);
  EXPECT_EQ(p.attachments, 2u);
  BinaryAssembler assembler;
  assembler.begin(p);
  EXPECT_TRUE(assembler.waiting());
  auto first = assembler.add("\x01\x02");
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->has_value());
  auto second = assembler.add("\x03");
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(second->has_value());
  EXPECT_EQ((*second)->buffers, (std::vector<std::string>{"\x01\x02", "\x03"}));
  EXPECT_FALSE(assembler.waiting());
  EXPECT_FALSE(assembler.add("stray").ok());  // nothing waits for it
  auto back = ok(R"(62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])");
  EXPECT_EQ(back.type, PacketType::binary_ack);
  EXPECT_EQ(back.id, 789);
  EXPECT_EQ(encode(back), R"(62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])");
}

TEST(SocketIo, MalformedPacketsAreRefusedWithTheReason) {
  EXPECT_EQ(why(""), "unknown packet type");
  EXPECT_EQ(why("abc"), "unknown packet type");
  EXPECT_EQ(why("2{}"), "invalid payload");           // an event must be an array
  EXPECT_EQ(why(R"(2abc["a"])"), "invalid payload");  // not an ack id, not JSON
  EXPECT_EQ(why("2[]"), "invalid payload");           // no event name
  EXPECT_EQ(why(R"(2["connect"])"), "invalid payload");  // reserved
  EXPECT_EQ(why(R"(1{"x":1})"), "invalid payload");   // DISCONNECT carries nothing
  EXPECT_EQ(why("0[1]"), "invalid payload");          // CONNECT's auth is an object
  EXPECT_EQ(why(R"(3[1])"), "invalid payload");       // an ACK needs its id
  EXPECT_EQ(why(R"(5["a"])"), "illegal attachments");
  EXPECT_EQ(why(R"(5x-["a"])"), "illegal attachments");
  EXPECT_EQ(why(R"(511-["a"])"), "too many attachments");
  EXPECT_EQ(why(R"(51-["a",{"_placeholder":true,"num":1}])"), "illegal attachments");
  EXPECT_EQ(why(R"(299999999999999999999["a"])"), "invalid ack id");
}

}  // namespace
}  // namespace parley::api::sio
