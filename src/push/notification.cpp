#include "push/notification.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <openssl/sha.h>
#include <vector>

#include "auth/base64.hpp"

namespace parley::push {

Decision decide(const PendingPush& p, TimeMs now, bool online, const RuleOptions& options) {
  using Kind = Decision::Kind;
  if (!p.delivered_seq || *p.delivered_seq >= p.pending_to) return {Kind::drop};
  if (p.muted_until > now) return {Kind::drop, 0, 0, true};
  const TimeMs online_deadline = p.first_noted_at + options.online_delay.count();
  if (online && now < online_deadline) return {Kind::postpone, online_deadline};
  // Messages the member's devices reported delivered are not news.
  const std::int64_t undelivered = p.pending_to - std::max(*p.delivered_seq, p.pending_from - 1);
  return {Kind::send, 0, std::clamp<std::int64_t>(std::min(p.count, undelivered), 1, p.count)};
}

std::string preview(std::string_view text, std::size_t max_chars) {
  // Whitespace runs become one space; then the code points are counted.
  std::string flat;
  std::vector<std::size_t> starts;  // where each code point of `flat` begins
  bool space = false;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      space = !flat.empty();
      ++i;
      continue;
    }
    if (space) {
      starts.push_back(flat.size());
      flat += ' ';
      space = false;
    }
    const std::size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    starts.push_back(flat.size());
    flat.append(text.substr(i, std::min(len, text.size() - i)));
    i += len;
  }
  if (starts.size() <= max_chars) return flat;
  flat.resize(starts[max_chars == 0 ? 0 : max_chars - 1]);
  while (!flat.empty() && flat.back() == ' ') flat.pop_back();
  return flat + "\u2026";
}

std::string notification_json(const MessageSummary& m, const RuleOptions& options) {
  boost::json::object o{{"type", "message"},
                        {"conv", m.conv},
                        {"group", m.group},
                        {"title", m.group ? m.conv_title : m.sender},
                        {"sender", m.sender},
                        {"seq", m.seq},
                        {"count", m.count}};
  std::string shown;
  if (options.previews && !m.e2ee && !m.deleted && !m.text.empty()) {
    shown = preview(m.text, options.preview_chars);
    o["preview"] = shown;
  }
  if (m.count > 1) {
    o["body"] = std::to_string(m.count) + " new messages";
  } else if (!shown.empty()) {
    o["body"] = m.group ? m.sender + ": " + shown : shown;
  } else if (m.has_files && !m.e2ee) {
    o["body"] = m.group ? m.sender + " sent a file" : "Sent a file";
  } else {
    o["body"] = m.group ? "New message from " + m.sender : "New message";
  }
  return boost::json::serialize(o);
}

std::string topic_of(std::string_view conv) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(conv.data()), conv.size(), digest);
  return auth::base64url_encode(std::string_view(reinterpret_cast<const char*>(digest), 16));
}

}  // namespace parley::push
