#pragma once
// The rules of chat: who may do what, and what valid input looks like. Pure functions,
// no I/O; every REST route and WebSocket op goes through them (invariants 5 and 7,
// docs/architecture.md).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/types.hpp"
#include "core/result.hpp"

namespace parley::chat {

struct Limits {
  std::size_t max_body_bytes = 16 * 1024;     // message text
  // End-to-end encrypted conversations' bodies (service/e2ee.hpp). The request carrying one is
  // limited too (--max-payload-bytes), before this is checked.
  std::size_t max_envelope_bytes = 48 * 1024;
  std::size_t max_client_msg_id_bytes = 128;
  std::size_t max_title_bytes = 200;
  std::size_t max_group_members = 10'000;
  int default_page = 50;
  int max_page = 200;
};

Status validate_username(std::string_view username);
// Usernames to try, in order, for an account made from an OpenID profile: `hint` (a
// preferred_username or an email's local part) with every character a username may not hold
// dropped, cut to fit, "user" when nothing is left; then the same with 2, 3, … appended, then
// with random digits. Every one passes validate_username.
std::vector<std::string> username_candidates(std::string_view hint);
Status validate_password(std::string_view password);
Status validate_body(std::string_view body, const Limits& limits);
Status validate_client_msg_id(std::string_view id, const Limits& limits);
Status validate_group_title(std::string_view title, const Limits& limits);

// Paging: clamps a requested limit into [1, max_page]; absent means default_page.
int clamp_page_limit(std::optional<std::int64_t> requested, const Limits& limits);

// Membership management (docs/protocol.md §3): owner/admins manage members, anyone may leave.
bool may_add_member(Role actor);
// actor removes target; actor_id == target_id means leaving.
bool may_remove_member(UserId actor_id, Role actor, UserId target_id, Role target);

// The unique key of the direct conversation between two users, whichever order they come in.
std::string direct_key(UserId a, UserId b);

}  // namespace parley::chat
