// Unit tests of api/codec: the message path's JSON, built in a stack arena, is the same JSON the
// heap-built objects give, and its text leaves room for the frame header.
#include "api/codec.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace parley::api {
namespace {

chat::Message a_message() {
  chat::Message m;
  m.id = "01936f0e-5d4a-7c3b-8a2e-9f1d2c3b4a5e";
  m.conv = "01936f0e-0000-7000-8000-000000000001";
  m.seq = 42;
  m.from = "alice";
  m.body = "a \"quoted\" line\nand caf\xc3\xa9 \\ tab\t";
  m.reply_to = 7;
  m.client_msg_id = "c-1";
  m.ts = 1'790'000'000'123;
  return m;
}

TEST(Codec, AMessageBuiltInAnArenaIsTheSameJson) {
  const auto m = a_message();
  JsonArena arena;
  const json::object in_arena = message_json(m, arena.storage());
  const json::object on_heap = message_json(m);
  EXPECT_EQ(in_arena, on_heap);
  EXPECT_EQ(to_text(in_arena), json::serialize(on_heap));
  EXPECT_EQ(on_heap.at("ts"), "2026-09-21T14:13:20.123Z");
  EXPECT_EQ(on_heap.at("body").as_string(), m.body);
}

TEST(Codec, TheMessageEventIsItsMessageUnderMsg) {
  const auto m = a_message();
  const json::value event = json::parse(event_frame(chat::MessageEvent{m}));
  EXPECT_EQ(event, (json::object{{"ev", "message"}, {"msg", message_json(m)}}));
}

TEST(Codec, TextLeavesRoomForTheFrameHeader) {
  // net::text_frame puts the header in front without reallocating only if there is room.
  for (std::size_t n : {0u, 100u, 5000u, 70000u}) {
    const std::string text = to_text(json::object{{"body", std::string(n, 'x')}});
    EXPECT_EQ(json::parse(text).at("body").as_string().size(), n);
    EXPECT_GE(text.capacity() - text.size(), 10u) << n;
  }
}

TEST(Codec, RequestsBiggerThanTheArenaParse) {
  const std::string body(10'000, 'b');
  JsonArena arena;
  auto request = parse_object(R"({"op":"send","body":")" + body + R"("})", arena.storage());
  ASSERT_TRUE(request);
  EXPECT_EQ(request->at("body").as_string(), body);
  // A copy to the heap outlives the arena (what ws_protocol keeps past on_text).
  json::value kept(request->at("op"), json::storage_ptr());
  EXPECT_TRUE(kept.storage().get() != arena.storage().get());
  EXPECT_EQ(kept, "send");
  EXPECT_EQ(parse_object("[1]", arena.storage()).error().code, Errc::bad_request);
  EXPECT_EQ(parse_object("\xff", arena.storage()).error().code, Errc::invalid_utf8);
}

}  // namespace
}  // namespace parley::api
