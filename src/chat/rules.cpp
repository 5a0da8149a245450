#include "chat/rules.hpp"

#include <random>

#include <algorithm>
#include <string>

#include "core/utf8.hpp"

namespace parley::chat {

std::string_view to_string(ConvKind k) { return k == ConvKind::direct ? "direct" : "group"; }

std::string_view to_string(Role r) {
  switch (r) {
    case Role::owner: return "owner";
    case Role::admin: return "admin";
    case Role::member: return "member";
  }
  return "member";
}

std::optional<Role> role_from_string(std::string_view s) {
  if (s == "owner") return Role::owner;
  if (s == "admin") return Role::admin;
  if (s == "member") return Role::member;
  return std::nullopt;
}

Status validate_username(std::string_view u) {
  // Usernames appear in URLs and mentions: keep them to a safe, case-sensitive ASCII set.
  if (u.size() < 2 || u.size() > 32) {
    return make_error(Errc::bad_request, "username must be 2 to 32 characters");
  }
  const bool allowed = std::all_of(u.begin(), u.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
  });
  if (!allowed) {
    return make_error(Errc::bad_request, "username may contain only letters, digits, '_', '-', '.'");
  }
  return ok_status();
}

std::vector<std::string> username_candidates(std::string_view hint) {
  std::string base;
  for (const char c : hint) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
        c == '-' || c == '.') {
      base += c;
    }
  }
  if (base.size() < 2) base = "user";
  base.resize(std::min<std::size_t>(base.size(), 24));  // room for a suffix within 32
  std::vector<std::string> out{base};
  for (int n = 2; n <= 20; ++n) out.push_back(base + std::to_string(n));
  std::random_device random;
  for (int i = 0; i < 5; ++i) out.push_back(base + "-" + std::to_string(random() % 10'000'000));
  return out;
}

Status validate_password(std::string_view p) {
  // OWASP ASVS 2.1: at least 8 characters, long passphrases allowed.
  if (p.size() < 8) return make_error(Errc::bad_request, "password must be at least 8 characters");
  if (p.size() > 1024) return make_error(Errc::bad_request, "password is longer than 1024 bytes");
  if (!is_valid_utf8(p)) return make_error(Errc::invalid_utf8, "password is not valid UTF-8");
  return ok_status();
}

Status validate_body(std::string_view body, const Limits& limits) {
  if (body.empty()) return make_error(Errc::bad_request, "message body is empty");
  if (body.size() > limits.max_body_bytes) {
    return make_error(Errc::too_large, "message body is longer than " +
                                           std::to_string(limits.max_body_bytes) + " bytes");
  }
  if (!is_valid_utf8(body)) return make_error(Errc::invalid_utf8, "message body is not UTF-8");
  return ok_status();
}

Status validate_client_msg_id(std::string_view id, const Limits& limits) {
  if (id.empty()) return make_error(Errc::bad_request, "client_msg_id is required");
  if (id.size() > limits.max_client_msg_id_bytes) {
    return make_error(Errc::bad_request, "client_msg_id is longer than " +
                                             std::to_string(limits.max_client_msg_id_bytes) +
                                             " bytes");
  }
  if (!is_valid_utf8(id)) return make_error(Errc::invalid_utf8, "client_msg_id is not UTF-8");
  return ok_status();
}

Status validate_group_title(std::string_view title, const Limits& limits) {
  if (title.empty()) return make_error(Errc::bad_request, "group name is empty");
  if (title.size() > limits.max_title_bytes) {
    return make_error(Errc::bad_request, "group name is longer than " +
                                             std::to_string(limits.max_title_bytes) + " bytes");
  }
  if (!is_valid_utf8(title)) return make_error(Errc::invalid_utf8, "group name is not UTF-8");
  return ok_status();
}

int clamp_page_limit(std::optional<std::int64_t> requested, const Limits& limits) {
  if (!requested) return limits.default_page;
  return static_cast<int>(std::clamp<std::int64_t>(*requested, 1, limits.max_page));
}

bool may_add_member(Role actor) { return actor == Role::owner || actor == Role::admin; }

bool may_remove_member(UserId actor_id, Role actor, UserId target_id, Role target) {
  if (actor_id == target_id) return true;  // leaving
  if (actor == Role::owner) return true;
  if (actor == Role::admin) return target == Role::member;
  return false;
}

std::string direct_key(UserId a, UserId b) {
  if (a > b) std::swap(a, b);
  return std::to_string(a) + ":" + std::to_string(b);
}

}  // namespace parley::chat
