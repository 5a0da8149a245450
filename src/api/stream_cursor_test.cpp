#include "api/stream_cursor.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <string>

namespace parley::api {
namespace {

std::string conv_id(int i) {  // a UUIDv7-shaped id, distinct per i
  char text[37];
  std::snprintf(text, sizeof text, "01a23b22-c8ab-748d-b98a-%012x", i);
  return text;
}

TEST(StreamCursor, RoundTripsAnInlinePosition) {
  DecodedCursor c;
  c.user = 42;
  c.entries[conv_id(1)] = {7, 3};
  c.entries[conv_id(2)] = {1'000'000, 0};
  const auto text = encode_cursor(c);
  for (const char ch : text) {  // base64url, no padding: safe in a URL and a header
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_') << text;
  }
  const auto back = decode_cursor(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->user, 42);
  EXPECT_EQ(back->base, 0u);
  EXPECT_EQ(back->entries, c.entries);
}

TEST(StreamCursor, RejectsWhatItDidNotWrite) {
  DecodedCursor c;
  c.user = 5;
  c.entries[conv_id(1)] = {9, 9};
  const auto text = encode_cursor(c);
  EXPECT_FALSE(decode_cursor(""));
  EXPECT_FALSE(decode_cursor("not a cursor!"));
  EXPECT_FALSE(decode_cursor(text.substr(0, text.size() - 3)));  // truncated
  EXPECT_FALSE(decode_cursor(text + "AAAA"));                     // trailing bytes
  EXPECT_FALSE(decode_cursor("_" + text.substr(1)));              // another version byte
}

TEST(StreamCursor, ABaseIsTheSavingUsersOnlyAndTheOldestAreForgotten) {
  CursorBases bases(2);
  Positions p{{conv_id(1), {3, 0}}};
  const auto a = bases.save(1, p);
  EXPECT_EQ(bases.load(1, a), p);
  EXPECT_FALSE(bases.load(2, a));  // another user's base is unknown to them
  const auto b = bases.save(1, p);
  bases.save(1, p);  // a third: the first is forgotten
  EXPECT_FALSE(bases.load(1, a));
  EXPECT_TRUE(bases.load(1, b));
  EXPECT_EQ(bases.size(), 2u);
}

TEST(StreamCursor, ALongPositionRebasesAndStillDecodesToTheWholePosition) {
  CursorBases bases;
  StreamPosition position(7, bases);
  Positions start;
  for (int i = 0; i < 40; ++i) start[conv_id(i)] = {static_cast<chat::Seq>(i), 0};
  position.reset(start);
  for (int i = 0; i < 20; ++i) position.advance(conv_id(i), 100 + i, 0);  // a message each
  position.advance(conv_id(3), 0, 5);                                    // an edit: rev only
  const auto cursor = position.cursor();
  const auto decoded = decode_cursor(cursor);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->user, 7);
  ASSERT_NE(decoded->base, 0u);  // 40 conversations do not fit inline
  EXPECT_LE(decoded->entries.size(), kInlineEntries);
  auto whole = bases.load(7, decoded->base);
  ASSERT_TRUE(whole);
  for (const auto& [conv, at] : decoded->entries) (*whole)[conv] = at;
  EXPECT_EQ(*whole, position.positions());
  EXPECT_EQ(position.at(conv_id(3)), (ConvPosition{103, 5}));
  EXPECT_EQ(position.at(conv_id(99), 11), (ConvPosition{11, 0}));  // joined after: from joined_seq
}

}  // namespace
}  // namespace parley::api
