#pragma once
// The rules of push notifications, as pure functions (docs/protocol.md, "Push notifications"):
// whether a member's pending burst is pushed now, later or never, and what the notification
// says. No I/O; the dispatcher (service/push_dispatcher.hpp) feeds them what it read.
//
// Threads: any.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "store/push_catalog.hpp"

namespace parley::push {

struct RuleOptions {
  // A member with no online session: how long a burst gathers before its one notification.
  std::chrono::milliseconds coalesce{1000};
  // A member with an online session: how long their sessions have to report the message
  // delivered before the devices are notified anyway (a stalled tab, a phone asleep).
  std::chrono::milliseconds online_delay{5000};
  // Text previews in notifications (--push-previews); never for end-to-end encrypted chats.
  bool previews = true;
  std::size_t preview_chars = 100;  // code points, "…" included
};

struct Decision {
  enum class Kind : std::uint8_t {
    drop,      // nothing to send: delivered meanwhile, muted, or no longer a member
    postpone,  // ask again at `until`
    send,      // notify about `count` messages up to the burst's last
  };
  Kind kind = Kind::drop;
  TimeMs until = 0;
  std::int64_t count = 0;
  bool muted = false;  // a drop because of the mute (else: delivered, or no longer a member)
};

// What to do with a due burst at `now`, the member being `online` (any node) or not.
Decision decide(const PendingPush& pending, TimeMs now, bool online, const RuleOptions& options);

// What a notification tells of its conversation and newest message.
struct MessageSummary {
  std::string conv;
  bool group = false;
  std::string conv_title;  // a group's title
  bool e2ee = false;
  std::string sender;  // username
  std::int64_t seq = 0;
  std::int64_t count = 1;  // messages in the burst
  std::string text;         // the newest message's text, opened ("" for a file alone)
  bool has_files = false;
  bool deleted = false;
};

// The notification's JSON (docs/protocol.md, "The notification"): {"type":"message", "conv",
// "group", "title", "sender", "seq", "count", "body", "preview"?}. `preview` (at most
// options.preview_chars code points) only when previews are on and the chat is not end-to-end
// encrypted; `body` is what to show: the preview, "3 new messages", or a neutral line.
std::string notification_json(const MessageSummary& m, const RuleOptions& options);

// text cut to at most max_chars code points, ending in "…" when it was longer; whitespace runs
// (new lines included) become one space.
std::string preview(std::string_view text, std::size_t max_chars);

// A Web Push Topic for a conversation (RFC 8030 §5.4: at most 32 base64url characters): later
// notifications of the conversation replace one the device has not fetched yet.
std::string topic_of(std::string_view conv);

}  // namespace parley::push
