#include "api/request_context.hpp"

#include <gtest/gtest.h>

namespace parley::api {
namespace {

TEST(QueryParam, FindsAndDecodesValues) {
  EXPECT_EQ(query_param("recipient=bob&limit=5", "recipient"), "bob");
  EXPECT_EQ(query_param("recipient=bob&limit=5", "limit"), "5");
  EXPECT_EQ(query_param("a=1&a=2", "a"), "1");  // the first wins
  EXPECT_EQ(query_param("name=caf%C3%A9+au+lait", "name"), "café au lait");
  EXPECT_EQ(query_param("flag&x=1", "flag"), "");
  EXPECT_EQ(query_param("%61ccess_token=t", "access_token"), "t");
  EXPECT_FALSE(query_param("recipient=bob", "limit"));
  EXPECT_FALSE(query_param("", "limit"));
}

TEST(QueryParam, IsSafeOnHostileInput) {
  EXPECT_FALSE(query_param("a=%zz", "a"));  // malformed escape: no value
  EXPECT_FALSE(query_param("a=%4", "a"));
  EXPECT_FALSE(query_param("a=%", "a"));
  EXPECT_EQ(query_param("a=1#b=2", "a"), "1");  // a fragment is ignored (Boost.URL crashed here)
  EXPECT_FALSE(query_param("#qqqq", "b"));
  EXPECT_FALSE(query_param("&&&==&", "a"));
}

TEST(RequestHelpers, BearerTokensAndOrigins) {
  EXPECT_EQ(bearer_token("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token("bearer abc"), "abc");
  EXPECT_FALSE(bearer_token("Basic abc"));
  EXPECT_FALSE(bearer_token("Bearer "));
  ApiOptions options;
  options.allowed_origins = {"https://chat.example"};
  EXPECT_TRUE(origin_allowed(options, "", "h:1"));
  EXPECT_TRUE(origin_allowed(options, "http://h:1", "h:1"));
  EXPECT_TRUE(origin_allowed(options, "https://chat.example", "h:1"));
  EXPECT_FALSE(origin_allowed(options, "https://evil.example", "h:1"));
  EXPECT_FALSE(origin_allowed(options, "h:1", "h:1"));
}

}  // namespace
}  // namespace parley::api
