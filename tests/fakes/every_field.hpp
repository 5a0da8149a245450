#pragma once
// A message with every field (chat/message_fields.hpp) set to a value no default has, and a
// comparison field by field: a round-trip test built on these covers a field added later
// without being edited.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "chat/message_fields.hpp"

namespace parley::testing {

struct FillEveryField {
  int n = 0;
  void operator()(const chat::MessageField& f, std::string& v) {
    v = std::string(f.key) + "-value-" + std::to_string(++n);
  }
  void operator()(const chat::MessageField&, std::int64_t& v) { v = 1000 + ++n; }
  void operator()(const chat::MessageField&, bool& v) { v = true; }
  void operator()(const chat::MessageField&, std::optional<std::int64_t>& v) { v = 2000 + ++n; }
};

template <class M>
M with_every_field() {
  M m;
  chat::for_each_field(m, FillEveryField{});
  return m;
}

// EXPECTs every field of `got` equal to `want`'s.
template <class M>
void expect_same_fields(const M& want, const M& got) {
  // Fields are visited in the same order on both: collect want's, then check got's.
  std::vector<std::string> want_values, got_values;
  auto show = [](std::vector<std::string>& out) {
    return [&out](const chat::MessageField& f, const auto& v) {
      using T = std::decay_t<decltype(v)>;
      std::string s(f.key);
      s += '=';
      if constexpr (std::is_same_v<T, std::string>) {
        s += v;
      } else if constexpr (std::is_same_v<T, std::optional<std::int64_t>>) {
        s += v ? std::to_string(*v) : "none";
      } else {
        s += std::to_string(v);
      }
      out.push_back(std::move(s));
    };
  };
  chat::for_each_field(want, show(want_values));
  chat::for_each_field(got, show(got_values));
  EXPECT_EQ(want_values, got_values);
}

}  // namespace parley::testing
