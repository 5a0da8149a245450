// The rules of push/notification.hpp: when a burst is pushed, what the notification says.
#include "push/notification.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "push/sender.hpp"

namespace parley::push {
namespace {

namespace json = boost::json;

PendingPush burst(chat::Seq from, chat::Seq to, std::int64_t count, chat::Seq delivered) {
  PendingPush p;
  p.user_id = 2;
  p.conv = "c";
  p.pending_from = from;
  p.pending_to = to;
  p.count = count;
  p.first_noted_at = 10'000;
  p.delivered_seq = delivered;
  return p;
}

TEST(PushRules, DeliveredMutedOrDepartedBurstsAreNotPushed) {
  const RuleOptions o;
  EXPECT_EQ(decide(burst(1, 3, 3, 3), 11'000, false, o).kind, Decision::Kind::drop);
  auto muted = burst(1, 3, 3, 0);
  muted.muted_until = 20'000;
  EXPECT_EQ(decide(muted, 11'000, false, o).kind, Decision::Kind::drop);
  EXPECT_TRUE(decide(muted, 11'000, false, o).muted);
  EXPECT_FALSE(decide(burst(1, 3, 3, 3), 11'000, false, o).muted);
  EXPECT_EQ(decide(muted, 20'000, false, o).kind, Decision::Kind::send);  // the mute ended
  auto departed = burst(1, 3, 3, 0);
  departed.delivered_seq.reset();
  EXPECT_EQ(decide(departed, 11'000, false, o).kind, Decision::Kind::drop);
}

TEST(PushRules, AnOnlineMemberGetsTheDelayAndAnOfflineOneDoesNot) {
  RuleOptions o;
  o.online_delay = std::chrono::milliseconds(5000);
  const auto p = burst(1, 1, 1, 0);
  const auto online = decide(p, 11'000, true, o);
  EXPECT_EQ(online.kind, Decision::Kind::postpone);
  EXPECT_EQ(online.until, 15'000);
  EXPECT_EQ(decide(p, 11'000, false, o).kind, Decision::Kind::send);
  EXPECT_EQ(decide(p, 15'000, true, o).kind, Decision::Kind::send);  // a stalled session
}

TEST(PushRules, TheCountLeavesOutWhatWasDelivered) {
  const RuleOptions o;
  EXPECT_EQ(decide(burst(1, 5, 5, 0), 11'000, false, o).count, 5);
  EXPECT_EQ(decide(burst(1, 5, 5, 3), 11'000, false, o).count, 2);
  // The member's own messages are in the seq range but not in the count.
  EXPECT_EQ(decide(burst(1, 9, 3, 0), 11'000, false, o).count, 3);
}

TEST(PushNotification, PreviewIsCutAtCodePointsAndWhitespaceFolds) {
  EXPECT_EQ(preview("hello", 100), "hello");
  EXPECT_EQ(preview("  two\n\n lines ", 100), "two lines");
  EXPECT_EQ(preview(std::string(100, 'a'), 100), std::string(100, 'a'));
  std::string cut_ascii(99, 'a');
  cut_ascii.append("\u2026");  // (operator+ here trips GCC 12's -Warray-bounds)
  EXPECT_EQ(preview(std::string(101, 'a'), 100), cut_ascii);
  // Multi-byte characters count once and are never split.
  std::string cyrillic;
  for (int i = 0; i < 120; ++i) cyrillic += "\u0436";
  const auto cut = preview(cyrillic, 100);
  EXPECT_EQ(cut.size(), 99 * 2 + 3u);
  EXPECT_TRUE(cut.ends_with("\u0436\u2026"));
}

json::object render(const MessageSummary& m, const RuleOptions& o = {}) {
  return json::parse(notification_json(m, o)).as_object();
}

TEST(PushNotification, SaysWhoAndWhatAndHowMany) {
  MessageSummary m;
  m.conv = "c1";
  m.sender = "alice";
  m.seq = 7;
  m.text = "see you at noon";
  auto direct = render(m);
  EXPECT_EQ(direct["type"], "message");
  EXPECT_EQ(direct["conv"], "c1");
  EXPECT_EQ(direct["title"], "alice");
  EXPECT_EQ(direct["sender"], "alice");
  EXPECT_EQ(direct["seq"], 7);
  EXPECT_EQ(direct["count"], 1);
  EXPECT_EQ(direct["preview"], "see you at noon");
  EXPECT_EQ(direct["body"], "see you at noon");
  m.group = true;
  m.conv_title = "Team";
  auto group = render(m);
  EXPECT_EQ(group["title"], "Team");
  EXPECT_EQ(group["body"], "alice: see you at noon");
  m.count = 3;
  EXPECT_EQ(render(m)["body"], "3 new messages");
}

TEST(PushNotification, NoPreviewForEncryptedChatsOrWhenTurnedOff) {
  MessageSummary m;
  m.conv = "c1";
  m.sender = "alice";
  m.text = "{\"v\":1,\"ciphertext\":\"...\"}";
  m.e2ee = true;
  auto e2ee = render(m);
  EXPECT_FALSE(e2ee.contains("preview"));
  EXPECT_EQ(e2ee["body"], "New message");
  m.e2ee = false;
  m.text = "secret plans";
  RuleOptions off;
  off.previews = false;
  auto quiet = render(m, off);
  EXPECT_FALSE(quiet.contains("preview"));
  EXPECT_EQ(quiet["body"], "New message");
  EXPECT_EQ(json::serialize(quiet).find("secret"), std::string::npos);
}

TEST(PushNotification, TopicIsShortBase64urlAndPerConversation) {
  const auto a = topic_of("0190b3c4-0000-7000-8000-000000000001");
  EXPECT_LE(a.size(), 32u);
  EXPECT_EQ(a.find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
  EXPECT_EQ(a, topic_of("0190b3c4-0000-7000-8000-000000000001"));
  EXPECT_NE(a, topic_of("0190b3c4-0000-7000-8000-000000000002"));
}

TEST(PushSender, OutcomesFollowTheStatusAndRetryAfterIsRead) {
  using Kind = SendOutcome::Kind;
  EXPECT_EQ(SendOutcome::from_status(201, std::nullopt, "").kind, Kind::sent);
  EXPECT_EQ(SendOutcome::from_status(410, std::nullopt, "").kind, Kind::gone);
  EXPECT_EQ(SendOutcome::from_status(404, std::nullopt, "").kind, Kind::gone);
  EXPECT_EQ(SendOutcome::from_status(429, std::nullopt, "").kind, Kind::retry);
  EXPECT_EQ(SendOutcome::from_status(503, std::nullopt, "").kind, Kind::retry);
  EXPECT_EQ(SendOutcome::from_status(400, std::nullopt, "").kind, Kind::failed);
  EXPECT_EQ(SendOutcome::from_status(413, std::nullopt, "").kind, Kind::failed);
  EXPECT_EQ(parse_retry_after("120", 0), std::chrono::seconds(120));
  EXPECT_EQ(parse_retry_after(" 3 ", 0), std::chrono::seconds(3));
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 60),
            std::chrono::seconds(60));
  EXPECT_EQ(parse_retry_after("soon", 0), std::nullopt);
  // Absurd values are capped (30 days): a delay in milliseconds must not overflow.
  EXPECT_EQ(parse_retry_after("99999999999999999", 0), std::chrono::seconds(30 * 24 * 3600));
  EXPECT_EQ(parse_retry_after("", 0), std::nullopt);
}

}  // namespace
}  // namespace parley::push
