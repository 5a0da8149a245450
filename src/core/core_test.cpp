// Unit tests of src/core: time formatting, UUIDv7, UTF-8 validation.
#include <gtest/gtest.h>

#include <set>

#include "core/ids.hpp"
#include "core/result.hpp"
#include "core/time.hpp"
#include "core/utf8.hpp"

namespace parley {
namespace {

TEST(Time, FormatsRfc3339WithMilliseconds) {
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339(1'790'000'000'123), "2026-09-21T14:13:20.123Z");
}

TEST(Time, ParsesWhatItFormats) {
  for (TimeMs t : {TimeMs{0}, TimeMs{1'790'000'000'123}, TimeMs{951'782'400'999}}) {
    EXPECT_EQ(parse_rfc3339(format_rfc3339(t)), t);
  }
  EXPECT_FALSE(parse_rfc3339("2026-02-30T00:00:00.000Z"));
  EXPECT_FALSE(parse_rfc3339("yesterday"));
  // What clients send: any RFC 3339 date-time.
  EXPECT_EQ(parse_rfc3339("2026-11-21T08:15:30Z"), parse_rfc3339("2026-11-21T08:15:30.000Z"));
  EXPECT_EQ(parse_rfc3339("2026-11-21T10:15:30.5+02:00"), parse_rfc3339("2026-11-21T08:15:30.500Z"));
  EXPECT_EQ(parse_rfc3339("2026-11-21t03:15:30.123456-05:00"),
            parse_rfc3339("2026-11-21T08:15:30.123Z"));
  EXPECT_FALSE(parse_rfc3339("2026-11-21T08:15:30"));
  EXPECT_FALSE(parse_rfc3339("2026-11-21T08:15:30.Z"));
  EXPECT_FALSE(parse_rfc3339("2026-11-21T08:15:30+0200"));
  EXPECT_FALSE(parse_rfc3339("2026-11-21T08:15:30Zjunk"));
}

TEST(Ids, UuidV7CarriesTimeVersionAndVariant) {
  const auto id = format_uuid_v7(0x0123456789AB, 0xFFFF, 0xFFFFFFFFFFFFFFFF);
  EXPECT_EQ(id, "01234567-89ab-7fff-bfff-ffffffffffff");
  EXPECT_TRUE(is_uuid(id));
}

TEST(Ids, UuidsAreUniqueAndSortByTime) {
  SystemIdGenerator ids;
  std::set<std::string> seen;
  std::string previous;
  for (TimeMs t = 1'000; t < 2'000; ++t) {
    const auto id = ids.uuid_v7(t);
    EXPECT_TRUE(seen.insert(id).second);
    EXPECT_LT(previous, id);
    previous = id;
  }
}

TEST(Ids, TheTimeOfAUuidV7ReadsBack) {
  SystemIdGenerator ids;
  const TimeMs t = 1'790'000'123'456;
  EXPECT_EQ(uuid_v7_time(ids.uuid_v7(t)), t);
  // The smallest id of a millisecond sorts before every id made in it.
  EXPECT_LE(format_uuid_v7(t, 0, 0), ids.uuid_v7(t));
  EXPECT_EQ(uuid_v7_time("not-a-uuid"), std::nullopt);
}

TEST(Ids, RecognisesUuids) {
  EXPECT_TRUE(is_uuid("01a1fcfb-0dea-7ca2-a53f-82b52d5e878a"));
  EXPECT_FALSE(is_uuid("01A1FCFB-0DEA-7CA2-A53F-82B52D5E878A"));  // Parley writes lowercase
  EXPECT_FALSE(is_uuid("01a1fcfb-0dea-7ca2-a53f-82b52d5e878"));
  EXPECT_FALSE(is_uuid("../../etc/passwd-000000000000000000"));
}

TEST(Ids, SecureRandomBytesHaveTheLengthAsked) {
  EXPECT_EQ(secure_random_bytes(32).size(), 32u);
  EXPECT_NE(secure_random_bytes(16), secure_random_bytes(16));
}

TEST(Utf8, AcceptsValidText) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("hello"));
  EXPECT_TRUE(is_valid_utf8("héllo wörld — 日本語 🎉"));
}

TEST(Utf8, TruncatesWithoutSplittingCharacters) {
  EXPECT_EQ(truncate_utf8("hello", 10), "hello");
  EXPECT_EQ(truncate_utf8("hello", 3), "hel");
  EXPECT_EQ(truncate_utf8("h\xc3\xa9llo", 2), "h");        // é would be cut in half
  EXPECT_EQ(truncate_utf8("\xf0\x9f\x8e\x89!", 3), "");  // 🎉 is four bytes
  EXPECT_EQ(truncate_utf8("\xf0\x9f\x8e\x89!", 4), "\xf0\x9f\x8e\x89");
}

TEST(Utf8, RejectsInvalidSequences) {
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("\xc3"));              // truncated
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("ok\x80"));
}

TEST(Errc, EveryCodeReadsBackAsItsErrc) {
  for (int i = 0; i <= static_cast<int>(Errc::internal); ++i) {
    const auto e = static_cast<Errc>(i);
    EXPECT_EQ(errc_from_code(errc_code(e)), e) << errc_code(e);
  }
  EXPECT_EQ(errc_from_code("no_such_code"), Errc::internal);
}

}  // namespace
}  // namespace parley
