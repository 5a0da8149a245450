#include "chat/rules.hpp"

#include <gtest/gtest.h>

namespace parley::chat {
namespace {

TEST(Rules, Usernames) {
  EXPECT_TRUE(validate_username("alice").ok());
  EXPECT_TRUE(validate_username("a.b-c_9").ok());
  EXPECT_FALSE(validate_username("a").ok());
  EXPECT_FALSE(validate_username(std::string(33, 'a')).ok());
  EXPECT_FALSE(validate_username("al ice").ok());
  EXPECT_FALSE(validate_username("ålice").ok());
  EXPECT_FALSE(validate_username("a/b").ok());
}

TEST(Rules, Passwords) {
  EXPECT_TRUE(validate_password("correct horse").ok());
  EXPECT_EQ(validate_password("short").error().code, Errc::bad_request);
  EXPECT_EQ(validate_password("long enough\xff").error().code, Errc::invalid_utf8);
}

TEST(Rules, MessageBodies) {
  Limits limits;
  limits.max_body_bytes = 10;
  EXPECT_TRUE(validate_body("hi", limits).ok());
  EXPECT_EQ(validate_body("", limits).error().code, Errc::bad_request);
  EXPECT_EQ(validate_body("01234567890", limits).error().code, Errc::too_large);
  EXPECT_EQ(validate_body("\xc3", limits).error().code, Errc::invalid_utf8);
}

TEST(Rules, ClientMessageIds) {
  Limits limits;
  EXPECT_TRUE(validate_client_msg_id("c-1", limits).ok());
  EXPECT_FALSE(validate_client_msg_id("", limits).ok());
  EXPECT_FALSE(validate_client_msg_id(std::string(129, 'x'), limits).ok());
}

TEST(Rules, PageLimitsAreClamped) {
  Limits limits;
  EXPECT_EQ(clamp_page_limit(std::nullopt, limits), 50);
  EXPECT_EQ(clamp_page_limit(0, limits), 1);
  EXPECT_EQ(clamp_page_limit(-5, limits), 1);
  EXPECT_EQ(clamp_page_limit(10, limits), 10);
  EXPECT_EQ(clamp_page_limit(1'000'000, limits), 200);
}

TEST(Rules, WhoManagesMembers) {
  EXPECT_TRUE(may_add_member(Role::owner));
  EXPECT_TRUE(may_add_member(Role::admin));
  EXPECT_FALSE(may_add_member(Role::member));

  // Anyone may leave.
  EXPECT_TRUE(may_remove_member(3, Role::member, 3, Role::member));
  EXPECT_TRUE(may_remove_member(1, Role::owner, 1, Role::owner));
  // The owner removes anyone; an admin removes plain members only; members remove no one.
  EXPECT_TRUE(may_remove_member(1, Role::owner, 2, Role::admin));
  EXPECT_TRUE(may_remove_member(2, Role::admin, 3, Role::member));
  EXPECT_FALSE(may_remove_member(2, Role::admin, 1, Role::owner));
  EXPECT_FALSE(may_remove_member(2, Role::admin, 4, Role::admin));
  EXPECT_FALSE(may_remove_member(3, Role::member, 4, Role::member));
}

TEST(Rules, DirectKeyIgnoresOrder) {
  EXPECT_EQ(direct_key(7, 3), direct_key(3, 7));
  EXPECT_NE(direct_key(1, 23), direct_key(12, 3));
}

}  // namespace
}  // namespace parley::chat
