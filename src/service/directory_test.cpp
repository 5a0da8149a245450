#include "service/directory.hpp"

#include <gtest/gtest.h>

namespace parley {
namespace {

TEST(Directory, RemembersUsersAndPairsInEitherOrder) {
  Directory d(100);
  EXPECT_FALSE(d.user_id("alice"));
  d.remember_user("alice", 7);
  EXPECT_EQ(d.user_id("alice"), 7);
  EXPECT_FALSE(d.direct(7, 9));
  d.remember_direct(9, 7, "conv-79");
  EXPECT_EQ(d.direct(7, 9), "conv-79");
  EXPECT_EQ(d.direct(9, 7), "conv-79");
}

TEST(Directory, StaysBounded) {
  Directory d(2);
  d.remember_user("a", 1);
  d.remember_user("b", 2);
  d.remember_user("c", 3);  // starts over
  EXPECT_FALSE(d.user_id("a"));
  EXPECT_EQ(d.user_id("c"), 3);
}

}  // namespace
}  // namespace parley
