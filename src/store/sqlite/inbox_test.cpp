// The journal record of a batch (store/sqlite/inbox.cpp): every message field survives it, a
// record written before the field list (format 1) still reads, and one from a newer build is
// refused with the reason.
#include "store/sqlite/inbox.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "fakes/every_field.hpp"
#include "store/sqlite/little_endian.hpp"

namespace parley::sqlite {
namespace {

TEST(JournalRecord, EveryMessageFieldComesBack) {
  Inbox::Batch batch;
  batch.first_row = 5;
  batch.last_id = 9;
  batch.rows.push_back(testing::with_every_field<chat::Message>());
  batch.rows.push_back(chat::Message{});  // every field at its default
  batch.rows.back().conv = "c";
  batch.positions.push_back({"parley.messages", 3, 0, 77});
  std::string record;
  Inbox::encode_record(batch, record);
  const auto back = Inbox::decode_record(record);
  EXPECT_EQ(back.first_row, 5);
  EXPECT_EQ(back.last_id, 9);
  ASSERT_EQ(back.rows.size(), 2u);
  testing::expect_same_fields(batch.rows[0], back.rows[0]);
  testing::expect_same_fields(batch.rows[1], back.rows[1]);
  ASSERT_EQ(back.positions.size(), 1u);
  EXPECT_EQ(back.positions[0].topic, "parley.messages");
  EXPECT_EQ(back.positions[0].partition, 3);
  EXPECT_EQ(back.positions[0].to, 77);
}

// A format-1 record, byte by byte as builds before the field list wrote it.
std::string format1_record() {
  std::string r;
  auto str = [&r](std::string_view s) {
    append_le(r, static_cast<std::uint32_t>(s.size()));
    r.append(s);
  };
  auto i64 = [&r](std::int64_t v) { append_le(r, static_cast<std::uint64_t>(v)); };
  r.push_back(1);  // format
  i64(1);          // first_row
  i64(1);          // last_id
  append_le(r, std::uint32_t{1});
  str("conv-1");
  i64(4);  // seq
  str("0190a0b0-0000-7000-8000-000000000001");
  i64(42);  // sender_id
  str("alice");
  str("client-1");
  str("hello");
  r.push_back(1);  // has reply_to
  i64(3);
  i64(1700000000000);  // ts
  append_le(r, std::uint32_t{0});  // positions
  return r;
}

TEST(JournalRecord, AFormat1RecordFromAnOlderBuildStillReads) {
  const auto batch = Inbox::decode_record(format1_record());
  ASSERT_EQ(batch.rows.size(), 1u);
  const auto& m = batch.rows[0];
  EXPECT_EQ(m.conv, "conv-1");
  EXPECT_EQ(m.seq, 4);
  EXPECT_EQ(m.id, "0190a0b0-0000-7000-8000-000000000001");
  EXPECT_EQ(m.sender_id, 42);
  EXPECT_EQ(m.from, "alice");
  EXPECT_EQ(m.client_msg_id, "client-1");
  EXPECT_EQ(m.body, "hello");
  EXPECT_EQ(m.reply_to, 3);
  EXPECT_EQ(m.ts, 1700000000000);
  EXPECT_FALSE(m.deleted);
  EXPECT_EQ(m.rev, 0);
}

TEST(JournalRecord, AFieldThisBuildDoesNotKnowIsRefusedWithTheReason) {
  Inbox::Batch batch;
  batch.rows.push_back(testing::with_every_field<chat::Message>());
  std::string record;
  Inbox::encode_record(batch, record);
  // The row's end tag (0) sits right before the positions count: make it an unknown field.
  const auto end_tag = record.size() - 4 - 1;
  ASSERT_EQ(record[end_tag], 0);
  record[end_tag] = static_cast<char>(200);
  try {
    Inbox::decode_record(record);
    FAIL() << "an unknown field was read";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("upgrade Parley"), std::string::npos) << e.what();
  }
}

TEST(JournalRecord, ARowWithoutARequiredFieldIsRefused) {
  std::string record;
  record.push_back(2);
  append_le(record, std::uint64_t{1});
  append_le(record, std::uint64_t{1});
  append_le(record, std::uint32_t{1});
  record.push_back(0);  // a row that ends at once: no id, no conv…
  append_le(record, std::uint32_t{0});
  EXPECT_THROW(Inbox::decode_record(record), std::runtime_error);
}

}  // namespace
}  // namespace parley::sqlite
