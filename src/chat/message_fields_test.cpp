#include "chat/message_fields.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <string>

#include "fakes/every_field.hpp"

namespace parley::chat {
namespace {

template <class M>
void expect_well_formed_list() {
  M m;
  std::set<std::string_view> keys;
  int last_tag = 0;
  for_each_field(m, [&](const MessageField& f, const auto&) {
    EXPECT_GT(f.tag, last_tag) << "tags ascend (the journal reads them in order): " << f.key;
    last_tag = f.tag;
    EXPECT_TRUE(keys.insert(f.key).second) << "duplicate key " << f.key;
    EXPECT_FALSE(f.key.empty());
  });
}

TEST(MessageFields, TagsAscendAndKeysAreUnique) {
  expect_well_formed_list<Message>();
  expect_well_formed_list<NewMessage>();
}

TEST(MessageFields, ASubmittedFieldHasTheSameTagAndKeyAsInTheStoredMessage) {
  std::vector<std::pair<int, std::string_view>> submitted, stored;
  NewMessage n;
  Message m;
  for_each_field(n, [&](const MessageField& f, const auto&) { submitted.emplace_back(f.tag, f.key); });
  for_each_field(m, [&](const MessageField& f, const auto&) { stored.emplace_back(f.tag, f.key); });
  for (const auto& field : submitted) {
    EXPECT_NE(std::find(stored.begin(), stored.end(), field), stored.end()) << field.second;
  }
}

TEST(MessageFields, EveryFieldIsVisitedSoAFilledMessageDiffersFromADefaultOne) {
  const auto filled = testing::with_every_field<Message>();
  const Message empty;
  int differing = 0, fields = 0;
  std::vector<std::string> a, b;
  for_each_field(filled, [&](const MessageField&, const auto&) { ++fields; });
  auto collect = [](std::vector<std::string>& out) {
    return [&out](const MessageField&, const auto& v) {
      std::ostringstream s;
      if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::optional<std::int64_t>>) {
        s << (v ? std::to_string(*v) : "none");
      } else {
        s << v;
      }
      out.push_back(s.str());
    };
  };
  for_each_field(filled, collect(a));
  for_each_field(empty, collect(b));
  for (std::size_t i = 0; i < a.size(); ++i) differing += a[i] != b[i];
  EXPECT_EQ(differing, fields);
  EXPECT_EQ(filled.body.substr(0, 2), "b-");
  EXPECT_TRUE(filled.deleted);
  EXPECT_TRUE(filled.edited_at.has_value());
}

}  // namespace
}  // namespace parley::chat
