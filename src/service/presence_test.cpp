#include "service/presence.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace parley {
namespace {

TEST(PresenceTracker, OnlineWithTheFirstSessionOfflineAfterTheLastSettles) {
  PresenceTracker p;
  EXPECT_TRUE(p.session_opened(1));
  EXPECT_FALSE(p.session_opened(1));  // a second tab: no new announcement
  EXPECT_TRUE(p.online(1));
  EXPECT_FALSE(p.session_closed(1, 100));  // one tab left
  EXPECT_TRUE(p.session_closed(1, 200));   // the last one
  EXPECT_TRUE(p.online(1));                // still, until the grace period ends
  EXPECT_EQ(p.settle(1), 200);  // offline, last seen when the last tab closed
  EXPECT_FALSE(p.online(1));
  EXPECT_FALSE(p.settle(1));  // announced once
}

TEST(PresenceTracker, AReconnectWithinTheGracePeriodIsInvisible) {
  PresenceTracker p;
  EXPECT_TRUE(p.session_opened(1));
  EXPECT_TRUE(p.session_closed(1, 100));
  EXPECT_FALSE(p.session_opened(1));  // back before settle: no online announcement
  EXPECT_FALSE(p.settle(1));          // and no offline one
  EXPECT_TRUE(p.online(1));
}

TEST(PresenceTracker, LastSeenIsBatched) {
  PresenceTracker p;
  p.session_opened(1);
  p.session_opened(2);
  p.session_closed(1, 100);
  p.session_closed(2, 150);
  p.session_opened(1);
  p.session_closed(1, 300);
  EXPECT_EQ(p.pending_last_seen(1), 300);
  auto pending = p.take_pending();
  std::sort(pending.begin(), pending.end());
  EXPECT_EQ(pending, (std::vector<std::pair<chat::UserId, TimeMs>>{{1, 300}, {2, 150}}));
  EXPECT_TRUE(p.take_pending().empty());
  EXPECT_FALSE(p.pending_last_seen(1));
  // A failed write puts them back; a newer time recorded meanwhile wins.
  p.session_opened(1);
  p.session_closed(1, 400);
  p.restore_pending(pending);
  EXPECT_EQ(p.pending_last_seen(1), 400);
  EXPECT_EQ(p.pending_last_seen(2), 150);
}

}  // namespace
}  // namespace parley
