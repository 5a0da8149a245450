#include "store/postgres/postgres_store.hpp"

#include <algorithm>
#include <stdexcept>

#include "chat/rules.hpp"
#include "core/ids.hpp"
#include "core/logging.hpp"
#include "store/postgres/migrations.hpp"
#include "store/postgres/postgres_store_internal.hpp"
#include "store/postgres/shared_sql.hpp"

namespace parley {

using namespace chat;
using pg::Connection;

namespace {

using pg::storage_error;

// Column lists kept next to the readers that depend on their order (as in the SQLite store);
// the messages' (PARLEY_PG_MESSAGE_COLUMNS) in shared_sql.hpp, for the append routine reads them
// too.
Message read_message(const pg::Result& r, int row, int col, std::string_view conv) {
  Message m;
  m.conv = std::string(conv);
  m.seq = r.i64(row, col);
  m.id = r.text(row, col + 1);
  m.sender_id = r.i64(row, col + 2);
  m.from = r.text(row, col + 3);
  m.body = r.text(row, col + 4);
  m.reply_to = r.opt_i64(row, col + 5);
  m.client_msg_id = r.text(row, col + 6);
  m.ts = r.i64(row, col + 7);
  m.edited_at = r.opt_i64(row, col + 8);
  m.deleted = r.i64(row, col + 9) != 0;
  m.rev = r.i64(row, col + 10);
  m.attachments = r.text(row, col + 11);  // '[]' (none) read as ""
  return m;
}

#define PARLEY_PG_CONVERSATION_COLUMNS                                                             \
  "c.id, c.kind, c.title, c.creator_id, coalesce(c.passcode_hash, ''), c.created_at, c.last_seq, " \
  "c.last_rev, c.e2ee"
// How many columns PARLEY_PG_CONVERSATION_COLUMNS reads: a query's own columns come after them.
constexpr int kConversationColumns = 9;

Conversation read_conversation(const pg::Result& r, int row, int col) {
  Conversation c;
  c.id = r.text(row, col);
  c.kind = r.text(row, col + 1) == "direct" ? ConvKind::direct : ConvKind::group;
  c.title = r.text(row, col + 2);
  c.creator_id = r.i64(row, col + 3);
  c.passcode_hash = r.text(row, col + 4);
  c.created_at = r.i64(row, col + 5);
  c.last_seq = r.i64(row, col + 6);
  c.last_rev = r.i64(row, col + 7);
  c.e2ee = r.i64(row, col + 8) != 0;
  return c;
}

#define PARLEY_PG_USER_COLUMNS                                                                \
  "id, coalesce(username, ''), name, created_at, last_seen_at, coalesce(email, ''), "         \
  "coalesce(image, ''), provider, coalesce(oauth_id, '')"
constexpr int kUserColumns = 9;

User read_user(const pg::Result& r, int row, int col) {
  User u;
  u.id = r.i64(row, col);
  u.username = r.text(row, col + 1);
  u.name = r.text(row, col + 2);
  u.created_at = r.i64(row, col + 3);
  u.last_seen_at = r.opt_i64(row, col + 4);
  u.email = r.text(row, col + 5);
  u.image = r.text(row, col + 6);
  u.provider = r.text(row, col + 7);
  u.oauth_id = r.text(row, col + 8);
  return u;
}

Result<Conversation> load_conversation(Connection& c, std::string_view id) {
  auto r = c.exec("SELECT " PARLEY_PG_CONVERSATION_COLUMNS " FROM conversations c WHERE c.id = $1",
                  {id});
  if (!r.ok()) return storage_error(r, "get_conversation");
  if (r.rows() == 0) return make_error(Errc::not_found, "no such conversation");
  return read_conversation(r, 0, 0);
}

Result<User> one_user(const pg::Result& r, std::string_view what) {
  if (!r.ok()) return storage_error(r, what);
  if (r.rows() == 0) return make_error(Errc::not_found, "no such user");
  return read_user(r, 0, 0);
}

}  // namespace

// ---- the pool ------------------------------------------------------------------------------

PostgresStore::PostgresStore(std::string url, int pool_size, LogCommits log_commits)
    : url_(std::move(url)),
      pool_size_(std::max(1, pool_size)),
      log_commits_(log_commits) {
  Connection conn(url_);  // throws with a clear message when the server is not there
  postgres::migrate(conn);
  idle_.push_back(std::make_unique<Connection>(url_));
  open_ = 1;
}

PostgresStore::~PostgresStore() = default;

Result<PostgresStore::Lease> PostgresStore::lease() {
  std::unique_lock lock(mutex_);
  idle_cv_.wait(lock, [this] { return !idle_.empty() || open_ < pool_size_; });
  if (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    return Lease(*this, std::move(conn));
  }
  ++open_;
  lock.unlock();
  try {
    return Lease(*this, std::make_unique<Connection>(url_));
  } catch (const std::exception& e) {
    {
      std::lock_guard relock(mutex_);
      --open_;
    }
    idle_cv_.notify_one();
    log::error("event=store_error op=connect error=\"{}\"", e.what());
    return make_error(Errc::unavailable, "storage unavailable");
  }
}

void PostgresStore::give_back(std::unique_ptr<Connection> conn) {
  {
    std::lock_guard lock(mutex_);
    if (conn->broken()) {
      --open_;  // dropped by the server: the next lease opens a fresh one
    } else {
      idle_.push_back(std::move(conn));
    }
  }
  idle_cv_.notify_one();
}

Result<pg::Result> PostgresStore::query(std::string_view op, const char* sql,
                                        std::initializer_list<pg::Param> params) {
  auto c = lease();
  if (!c) return c.error();
  auto r = (*c)->exec(sql, params);
  if (!r.ok()) return storage_error(r, op);
  return r;
}

// ---- users ---------------------------------------------------------------------------------

Result<User> PostgresStore::create_user(std::string_view username, std::string_view password_hash,
                                        TimeMs now) {
  return transaction("create_user", [&](Connection& c) -> Result<User> {
    auto r = c.exec("INSERT INTO users(username, name, provider, password_hash, created_at) "
                    "VALUES($1, $1, 'password', $2, $3) RETURNING " PARLEY_PG_USER_COLUMNS,
                    {username, password_hash, now});
    if (r.unique_violation()) return make_error(Errc::conflict, "username is taken");
    return one_user(r, "create_user");
  });
}

Result<UserCredentials> PostgresStore::find_credentials(std::string_view username) {
  auto c = lease();
  if (!c) return c.error();
  auto r = (*c)->exec("SELECT " PARLEY_PG_USER_COLUMNS ", coalesce(password_hash, '') FROM users "
                      "WHERE username = $1",
                      {username});
  auto user = one_user(r, "find_credentials");
  if (!user) return user.error();
  return UserCredentials{std::move(*user), r.text(0, kUserColumns)};
}

Result<User> PostgresStore::find_user(std::string_view username) {
  auto c = lease();
  if (!c) return c.error();
  return one_user((*c)->exec("SELECT " PARLEY_PG_USER_COLUMNS " FROM users WHERE username = $1",
                             {username}),
                  "find_user");
}

Result<User> PostgresStore::get_user(UserId id) {
  auto c = lease();
  if (!c) return c.error();
  return one_user((*c)->exec("SELECT " PARLEY_PG_USER_COLUMNS " FROM users WHERE id = $1", {id}),
                  "get_user");
}

// ---- login sessions ------------------------------------------------------------------------

Result<SessionId> PostgresStore::create_session(UserId user, std::string_view device,
                                                std::string_view provider,
                                                std::string_view refresh_hash, TimeMs now) {
  return transaction("create_session", [&](Connection& c) -> Result<SessionId> {
    auto r = c.exec("INSERT INTO sessions(user_id, device, provider, refresh_hash, created_at, "
                    "last_used_at) VALUES($1, $2, $3, $4, $5, $5) RETURNING id",
                    {user, device, provider, refresh_hash, now});
    if (!r.ok() || r.rows() != 1) return storage_error(r, "create_session");
    return SessionId{r.i64(0, 0)};
  });
}

Result<LoginSession> PostgresStore::rotate_refresh(std::string_view old_hash,
                                                   std::string_view new_hash, TimeMs now,
                                                   TimeMs min_last_used) {
  return transaction("rotate_refresh", [&](Connection& c) -> Result<LoginSession> {
    auto r = c.exec("UPDATE sessions s SET refresh_hash = $1, last_used_at = $2 FROM users u "
                    "WHERE u.id = s.user_id AND s.refresh_hash = $3 AND s.revoked_at IS NULL "
                    "AND s.last_used_at >= $4 RETURNING s.id, s.user_id, u.username",
                    {new_hash, now, old_hash, min_last_used});
    if (!r.ok()) return storage_error(r, "rotate_refresh");
    if (r.rows() == 0) {
      return make_error(Errc::not_found, "refresh token is unknown, expired or revoked");
    }
    return LoginSession{r.i64(0, 0), r.i64(0, 1), r.text(0, 2)};
  });
}

Status PostgresStore::revoke_session(UserId user, SessionId id, TimeMs now) {
  return transaction("revoke_session", [&](Connection& c) -> Status {
    auto r = c.exec("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND user_id = $3 "
                    "AND revoked_at IS NULL RETURNING id",
                    {now, id, user});
    if (!r.ok()) return storage_error(r, "revoke_session");
    if (r.rows() == 0) return make_error(Errc::not_found, "no such session");
    return ok_status();
  });
}

Result<std::vector<SessionId>> PostgresStore::revoke_all_sessions(UserId user, TimeMs now) {
  return transaction("revoke_all_sessions", [&](Connection& c) -> Result<std::vector<SessionId>> {
    auto r = c.exec("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 "
                    "AND revoked_at IS NULL RETURNING id",
                    {now, user});
    if (!r.ok()) return storage_error(r, "revoke_all_sessions");
    std::vector<SessionId> ids;
    for (int i = 0; i < r.rows(); ++i) ids.push_back(r.i64(i, 0));
    return ids;
  });
}

Result<std::vector<LoginSessionInfo>> PostgresStore::sessions_of(UserId user,
                                                                 TimeMs min_last_used) {
  auto r = query("sessions_of",
                 "SELECT id, device, provider, created_at, last_used_at FROM sessions "
                 "WHERE user_id = $1 AND revoked_at IS NULL AND last_used_at >= $2 "
                 "ORDER BY last_used_at DESC, id DESC LIMIT 1000",
                 {user, min_last_used});
  if (!r) return r.error();
  std::vector<LoginSessionInfo> out;
  for (int i = 0; i < r->rows(); ++i) {
    out.push_back({r->i64(i, 0), r->text(i, 1), r->text(i, 2), r->i64(i, 3), r->i64(i, 4)});
  }
  return out;
}

Result<std::vector<SessionId>> PostgresStore::sessions_revoked_since(TimeMs since) {
  auto r = query("sessions_revoked_since", "SELECT id FROM sessions WHERE revoked_at >= $1",
                 {since});
  if (!r) return r.error();
  std::vector<SessionId> ids;
  for (int i = 0; i < r->rows(); ++i) ids.push_back(r->i64(i, 0));
  return ids;
}

// ---- external identities -------------------------------------------------------------------

Result<std::optional<UserId>> PostgresStore::find_identity(std::string_view provider,
                                                           std::string_view subject) {
  auto r = query("find_identity",
                 "SELECT user_id FROM identities WHERE provider = $1 AND subject = $2",
                 {provider, subject});
  if (!r) return r.error();
  if (r->rows() == 0) return std::optional<UserId>();
  return std::optional<UserId>(r->i64(0, 0));
}

Result<std::optional<UserId>> PostgresStore::find_user_by_email(std::string_view email) {
  auto r = query("find_user_by_email", "SELECT id FROM users WHERE email = $1", {email});
  if (!r) return r.error();
  if (r->rows() == 0) return std::optional<UserId>();
  return std::optional<UserId>(r->i64(0, 0));
}

Result<User> PostgresStore::create_external_user(const ExternalProfile& p, TimeMs now) {
  return transaction("create_external_user", [&](Connection& c) -> Result<User> {
    // One creation per identity at a time across the nodes; another node's account stands.
    auto locked = c.exec("SELECT pg_advisory_xact_lock(hashtext($1))",
                         {p.provider + "\n" + p.subject});
    if (!locked.ok()) return storage_error(locked, "create_external_user");
    auto found = c.exec("SELECT " PARLEY_PG_USER_COLUMNS " FROM users WHERE id = "
                        "(SELECT user_id FROM identities WHERE provider = $1 AND subject = $2)",
                        {p.provider, p.subject});
    if (!found.ok()) return storage_error(found, "create_external_user");
    if (found.rows() > 0) return read_user(found, 0, 0);
    std::string username;
    for (const auto& candidate : chat::username_candidates(p.username_hint)) {
      auto taken = c.exec("SELECT 1 FROM users WHERE username = $1", {candidate});
      if (!taken.ok()) return storage_error(taken, "create_external_user");
      if (taken.rows() == 0) {
        username = candidate;
        break;
      }
    }
    if (username.empty()) return make_error(Errc::conflict, "no free username for this profile");
    bool email_free = false;
    if (!p.email.empty()) {
      auto taken = c.exec("SELECT 1 FROM users WHERE email = $1", {p.email});
      if (!taken.ok()) return storage_error(taken, "create_external_user");
      email_free = taken.rows() == 0;
    }
    auto r = c.exec("INSERT INTO users(username, name, email, image, provider, oauth_id, "
                    "created_at) VALUES($1, $2, NULLIF($3, ''), NULLIF($4, ''), $5, $6, $7) "
                    "RETURNING " PARLEY_PG_USER_COLUMNS,
                    {username, p.name.empty() ? username : p.name,
                     email_free ? p.email : std::string(), p.image, p.provider, p.subject, now});
    auto user = one_user(r, "create_external_user");
    if (!user) return user.error();
    auto link = c.exec("INSERT INTO identities(provider, subject, user_id, created_at) "
                       "VALUES($1, $2, $3, $4)",
                       {p.provider, p.subject, user->id, now});
    if (!link.ok()) return storage_error(link, "create_external_user");
    return user;
  });
}

Status PostgresStore::link_identity(UserId user, std::string_view provider,
                                    std::string_view subject, TimeMs now) {
  return transaction("link_identity", [&](Connection& c) -> Status {
    auto r = c.exec("INSERT INTO identities(provider, subject, user_id, created_at) "
                    "VALUES($1, $2, $3, $4)",
                    {provider, subject, user, now});
    if (r.unique_violation()) return make_error(Errc::conflict, "identity is linked already");
    if (!r.ok()) return storage_error(r, "link_identity");
    return ok_status();
  });
}

// ---- second factors ------------------------------------------------------------------------

Result<std::optional<SecondFactor>> PostgresStore::second_factor(UserId user) {
  auto r = query("second_factor",
                 "SELECT secret, confirmed, last_step FROM second_factors WHERE user_id = $1",
                 {user});
  if (!r) return r.error();
  if (r->rows() == 0) return std::optional<SecondFactor>();
  return std::optional<SecondFactor>(SecondFactor{r->text(0, 0), r->i64(0, 1) != 0, r->i64(0, 2)});
}

Status PostgresStore::begin_second_factor(UserId user, std::string_view secret, TimeMs now) {
  return transaction("begin_second_factor", [&](Connection& c) -> Status {
    auto r = c.exec("INSERT INTO second_factors(user_id, secret, created_at) VALUES($1, $2, $3) "
                    "ON CONFLICT(user_id) DO UPDATE SET secret = excluded.secret, "
                    "created_at = excluded.created_at WHERE second_factors.confirmed = 0 "
                    "RETURNING user_id",
                    {user, secret, now});
    if (!r.ok()) return storage_error(r, "begin_second_factor");
    if (r.rows() == 0) {
      return make_error(Errc::conflict, "a second factor is on already: disable it first");
    }
    return ok_status();
  });
}

Status PostgresStore::confirm_second_factor(UserId user, std::int64_t step,
                                            const std::vector<std::string>& recovery_hashes) {
  return transaction("confirm_second_factor", [&](Connection& c) -> Status {
    auto r = c.exec("UPDATE second_factors SET confirmed = 1, last_step = $1 "
                    "WHERE user_id = $2 AND confirmed = 0 RETURNING user_id",
                    {step, user});
    if (!r.ok()) return storage_error(r, "confirm_second_factor");
    if (r.rows() == 0) return make_error(Errc::not_found, "no second factor waits to be confirmed");
    auto cleared = c.exec("DELETE FROM recovery_codes WHERE user_id = $1", {user});
    if (!cleared.ok()) return storage_error(cleared, "confirm_second_factor");
    for (const auto& hash : recovery_hashes) {
      auto added = c.exec("INSERT INTO recovery_codes(user_id, code_hash) VALUES($1, $2)",
                          {user, hash});
      if (!added.ok()) return storage_error(added, "confirm_second_factor");
    }
    return ok_status();
  });
}

Result<bool> PostgresStore::use_totp_step(UserId user, std::int64_t step) {
  auto r = query("use_totp_step",
                 "UPDATE second_factors SET last_step = $1 "
                 "WHERE user_id = $2 AND confirmed = 1 AND last_step < $1 RETURNING user_id",
                 {step, user});
  if (!r) return r.error();
  return r->rows() > 0;
}

Result<bool> PostgresStore::use_recovery_code(UserId user, std::string_view hash, TimeMs now) {
  auto r = query("use_recovery_code",
                 "UPDATE recovery_codes SET used_at = $1 "
                 "WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL RETURNING user_id",
                 {now, user, hash});
  if (!r) return r.error();
  return r->rows() > 0;
}

Status PostgresStore::remove_second_factor(UserId user) {
  return transaction("remove_second_factor", [&](Connection& c) -> Status {
    for (const char* sql : {"DELETE FROM second_factors WHERE user_id = $1",
                            "DELETE FROM recovery_codes WHERE user_id = $1"}) {
      auto r = c.exec(sql, {user});
      if (!r.ok()) return storage_error(r, "remove_second_factor");
    }
    return ok_status();
  });
}

// ---- conversations -------------------------------------------------------------------------

Result<Conversation> PostgresStore::get_or_create_direct(UserId a, UserId b, const ConvId& new_id,
                                                         TimeMs now, bool e2ee) {
  const auto key = direct_key(a, b);
  return transaction("get_or_create_direct", [&](Connection& c) -> Result<Conversation> {
    // ON CONFLICT: two nodes creating the same pair at once both end with the one conversation.
    auto r = c.exec("INSERT INTO conversations(id, kind, creator_id, direct_key, created_at, e2ee) "
                    "VALUES($1, 'direct', $2, $3, $4, $5) ON CONFLICT (direct_key) DO NOTHING",
                    {new_id, a, key, now, int{e2ee}});
    if (!r.ok()) return storage_error(r, "get_or_create_direct");
    if (r.affected() == 1) {
      for (UserId user : {a, b}) {
        auto m = c.exec("INSERT INTO members(conversation_id, user_id, role, joined_at) "
                        "VALUES($1, $2, 'member', $3)",
                        {new_id, user, now});
        if (!m.ok()) return storage_error(m, "get_or_create_direct");
      }
    }
    auto found = c.exec("SELECT " PARLEY_PG_CONVERSATION_COLUMNS
                        " FROM conversations c WHERE c.direct_key = $1",
                        {key});
    if (!found.ok() || found.rows() != 1) return storage_error(found, "get_or_create_direct");
    return read_conversation(found, 0, 0);
  });
}

Result<std::optional<ConvId>> PostgresStore::find_direct(UserId a, UserId b) {
  auto r = query("find_direct", "SELECT id FROM conversations WHERE direct_key = $1",
                 {direct_key(a, b)});
  if (!r) return r.error();
  if (r->rows() == 0) return std::optional<ConvId>();
  return std::optional<ConvId>(r->text(0, 0));
}

Result<Conversation> PostgresStore::create_group(const NewGroup& g) {
  return transaction("create_group", [&](Connection& c) -> Result<Conversation> {
    auto r = c.exec("INSERT INTO conversations(id, kind, title, creator_id, passcode_hash, "
                    "created_at, e2ee) VALUES($1, 'group', $2, $3, $4, $5, $6)",
                    {g.id, g.title, g.creator_id,
                     g.passcode_hash.empty() ? pg::Param(nullptr) : pg::Param(g.passcode_hash),
                     g.now, int{g.e2ee}});
    if (!r.ok()) return storage_error(r, "create_group");
    auto insert_member = [&](UserId user, const char* role) {
      return c.exec("INSERT INTO members(conversation_id, user_id, role, joined_at) "
                    "VALUES($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    {g.id, user, role, g.now});
    };
    if (auto m = insert_member(g.creator_id, "owner"); !m.ok()) return storage_error(m, "create_group");
    for (UserId user : g.members) {
      if (auto m = insert_member(user, "member"); !m.ok()) return storage_error(m, "create_group");
    }
    return load_conversation(c, g.id);
  });
}

Result<Conversation> PostgresStore::get_conversation(std::string_view id) {
  auto c = lease();
  if (!c) return c.error();
  return load_conversation(**c, id);
}

Result<std::vector<Member>> PostgresStore::members(std::string_view conv) {
  auto r = query("members", "SELECT m.user_id, coalesce(u.username, ''), m.role, m.joined_at, "
                            "m.joined_seq, m.delivered_seq, m.read_seq FROM members m "
                            "JOIN users u ON u.id = m.user_id "
                            "WHERE m.conversation_id = $1 ORDER BY m.joined_at, m.user_id",
                            {conv});
  if (!r) return r.error();
  std::vector<Member> out;
  for (int i = 0; i < r->rows(); ++i) {
    Member m;
    m.user_id = r->i64(i, 0);
    m.username = r->text(i, 1);
    m.role = role_from_string(r->text(i, 2)).value_or(Role::member);
    m.joined_at = r->i64(i, 3);
    m.joined_seq = r->i64(i, 4);
    m.delivered_seq = r->i64(i, 5);
    m.read_seq = r->i64(i, 6);
    out.push_back(std::move(m));
  }
  return out;
}

Status PostgresStore::add_member(std::string_view conv, UserId user, Role role, TimeMs now) {
  return transaction("add_member", [&](Connection& c) -> Status {
    auto r = c.exec("INSERT INTO members(conversation_id, user_id, role, joined_at, joined_seq) "
                    "SELECT id, $1, $2, $3, last_seq FROM conversations WHERE id = $4",
                    {user, to_string(role), now, conv});
    if (r.unique_violation()) return make_error(Errc::conflict, "already a member");
    if (!r.ok()) return storage_error(r, "add_member");
    if (r.affected() == 0) return make_error(Errc::not_found, "no such conversation");
    auto back = c.exec("DELETE FROM departures WHERE conversation_id = $1 AND user_id = $2",
                       {conv, user});
    if (!back.ok()) return storage_error(back, "add_member");
    return ok_status();
  });
}

Status PostgresStore::remove_member(std::string_view conv, UserId user, TimeMs now) {
  return transaction("remove_member", [&](Connection& c) -> Status {
    auto r = c.exec("DELETE FROM members WHERE conversation_id = $1 AND user_id = $2 "
                    "RETURNING role",
                    {conv, user});
    if (!r.ok()) return storage_error(r, "remove_member");
    if (r.rows() == 0) return make_error(Errc::not_found, "not a member");
    const std::string role = r.text(0, 0);
    auto left = c.exec("INSERT INTO departures(conversation_id, user_id, left_at) "
                       "VALUES($1, $2, $3) ON CONFLICT (conversation_id, user_id) "
                       "DO UPDATE SET left_at = EXCLUDED.left_at",
                       {conv, user, now});
    if (!left.ok()) return storage_error(left, "remove_member");
    if (role == "owner") {
      // Hand the group to the longest-standing admin, else the longest-standing member.
      auto heir = c.exec("UPDATE members SET role = 'owner' WHERE conversation_id = $1 AND "
                         "user_id = (SELECT user_id FROM members WHERE conversation_id = $1 "
                         "ORDER BY role = 'admin' DESC, joined_at, user_id LIMIT 1)",
                         {conv});
      if (!heir.ok()) return storage_error(heir, "remove_member");
    }
    return ok_status();
  });
}

Result<std::vector<ConversationSummary>> PostgresStore::conversations_of(UserId user) {
  auto r = query(
      "conversations_of",
      "SELECT " PARLEY_PG_CONVERSATION_COLUMNS ", mm.role, mm.read_seq, mm.delivered_seq, mm.joined_seq, "
      " (SELECT count(*) FROM messages x WHERE x.conversation_id = c.id "
      "   AND x.seq > mm.read_seq AND x.sender_id <> mm.user_id AND x.deleted_at IS NULL), "
      " coalesce((SELECT pu.username FROM members p JOIN users pu ON pu.id = p.user_id "
      "   WHERE c.kind = 'direct' AND p.conversation_id = c.id AND p.user_id <> mm.user_id), ''), "
      " (m.seq IS NOT NULL)::int, " PARLEY_PG_MESSAGE_COLUMNS
      " FROM members mm JOIN conversations c ON c.id = mm.conversation_id "
      " LEFT JOIN messages m ON m.conversation_id = c.id AND m.seq = c.last_seq "
      " LEFT JOIN users u ON u.id = m.sender_id "
      " WHERE mm.user_id = $1 ORDER BY coalesce(m.created_at, c.created_at) DESC, c.id",
      {user});
  if (!r) return r.error();
  std::vector<ConversationSummary> out;
  for (int i = 0; i < r->rows(); ++i) {
    ConversationSummary s;
    s.conversation = read_conversation(*r, i, 0);
    constexpr int k = kConversationColumns;
    s.role = role_from_string(r->text(i, k)).value_or(Role::member);
    s.read_seq = r->i64(i, k + 1);
    s.delivered_seq = r->i64(i, k + 2);
    s.joined_seq = r->i64(i, k + 3);
    s.unread = r->i64(i, k + 4);
    s.peer = r->text(i, k + 5);
    if (r->i64(i, k + 6)) s.last_message = read_message(*r, i, k + 7, s.conversation.id);
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::vector<Departure>> PostgresStore::departures_of(UserId user) {
  auto r = query("departures_of",
                 "SELECT conversation_id, left_at FROM departures WHERE user_id = $1 "
                 "ORDER BY left_at DESC LIMIT 200",
                 {user});
  if (!r) return r.error();
  std::vector<Departure> out;
  for (int i = 0; i < r->rows(); ++i) out.push_back({r->text(i, 0), r->i64(i, 1)});
  return out;
}

Result<std::vector<UserId>> PostgresStore::contacts_of(UserId user) {
  auto r = query("contacts_of",
                 "SELECT DISTINCT other.user_id FROM members mine "
                 "JOIN members other ON other.conversation_id = mine.conversation_id "
                 "WHERE mine.user_id = $1 AND other.user_id <> $1",
                 {user});
  if (!r) return r.error();
  std::vector<UserId> out;
  for (int i = 0; i < r->rows(); ++i) out.push_back(r->i64(i, 0));
  return out;
}

Result<std::vector<ConvId>> PostgresStore::groups_of(UserId user) {
  auto r = query("groups_of", "SELECT m.conversation_id FROM members m "
                              "JOIN conversations c ON c.id = m.conversation_id "
                              "WHERE m.user_id = $1 AND c.kind = 'group'",
                              {user});
  if (!r) return r.error();
  std::vector<ConvId> out;
  for (int i = 0; i < r->rows(); ++i) out.push_back(r->text(i, 0));
  return out;
}

Result<std::pair<Cursors, bool>> PostgresStore::advance_cursors(std::string_view conv, UserId user,
                                                                Seq delivered, Seq read_up_to) {
  return transaction("advance_cursors", [&](Connection& c) -> Result<std::pair<Cursors, bool>> {
    // FOR UPDATE: two nodes moving the same member's cursors serialize here.
    auto r = c.exec("SELECT m.delivered_seq, m.read_seq, c.last_seq FROM members m "
                    "JOIN conversations c ON c.id = m.conversation_id "
                    "WHERE m.conversation_id = $1 AND m.user_id = $2 FOR UPDATE OF m",
                    {conv, user});
    if (!r.ok()) return storage_error(r, "advance_cursors");
    if (r.rows() == 0) return make_error(Errc::not_found, "not a member");
    const Cursors before{r.i64(0, 0), r.i64(0, 1)};
    const Seq last_seq = r.i64(0, 2);
    Cursors after = before;
    after.read_seq = std::max(before.read_seq, std::min(read_up_to, last_seq));
    after.delivered_seq =
        std::max({before.delivered_seq, std::min(delivered, last_seq), after.read_seq});
    const bool moved =
        after.read_seq != before.read_seq || after.delivered_seq != before.delivered_seq;
    if (moved) {
      auto u = c.exec("UPDATE members SET delivered_seq = $1, read_seq = $2 "
                      "WHERE conversation_id = $3 AND user_id = $4",
                      {after.delivered_seq, after.read_seq, conv, user});
      if (!u.ok()) return storage_error(u, "advance_cursors");
    }
    return std::pair{after, moved};
  });
}

Status PostgresStore::record_last_seen(std::span<const std::pair<UserId, TimeMs>> seen) {
  if (seen.empty()) return ok_status();
  return transaction("record_last_seen", [&](Connection& c) -> Status {
    for (const auto& [user, at] : seen) {
      auto r = c.exec("UPDATE users SET last_seen_at = GREATEST(coalesce(last_seen_at, 0), $1) "
                      "WHERE id = $2",
                      {at, user});
      if (!r.ok()) return storage_error(r, "record_last_seen");
    }
    return ok_status();
  });
}

// ---- messages ------------------------------------------------------------------------------

std::vector<Result<Appended>> PostgresStore::append_messages(
    std::span<const NewMessage> batch, TimeMs now, IdGenerator& ids,
    std::span<const LogPosition> positions) {
  std::vector<Result<Appended>> results;
  results.reserve(batch.size());
  auto fail_all = [&](const Error& e) {
    results.assign(batch.size(), Result<Appended>(e));
    return results;
  };
  // The whole commit is one call of the routine parley_append_messages_v2 (migrations.cpp says
  // what it does, step by step): one round trip, its own transaction.
  std::string topic;
  pg::ArrayParam partitions, froms, tos;
  for (const LogPosition& position : positions) {
    topic = position.topic;  // one topic per batch: the log's
    partitions.add(std::int64_t{position.partition});
    froms.add(position.from);
    tos.add(position.to);
  }
  std::vector<Message> fresh;  // each element's message if it is new: id and time fixed here
  fresh.reserve(batch.size());
  pg::ArrayParam convs, senders, clients, msg_ids, bodies, replies, times, attachments;
  for (const NewMessage& nm : batch) {
    Message m = stored_message(nm, 0, nm.id.empty() ? ids.uuid_v7(now) : nm.id, now);
    convs.add(m.conv);
    senders.add(m.sender_id);
    clients.add(m.client_msg_id);
    msg_ids.add(m.id);
    bodies.add(m.body);
    replies.add(m.reply_to);
    times.add(m.ts);
    attachments.add(m.attachments.empty() ? std::string_view("[]") : m.attachments);
    fresh.push_back(std::move(m));
  }
  const std::int64_t coalesce = note_at_commit_ms_.load(std::memory_order_relaxed);
  // A batch read from the log may commit before its WAL is flushed: the log holds its records
  // and a replay rewrites the same rows. Anything else waits for the flush.
  const bool synchronous = positions.empty() || log_commits_ == LogCommits::flushed;
  auto conn = lease();
  if (!conn) return fail_all(conn.error());
  auto r = (*conn)->exec(
      "SELECT * FROM parley_append_messages_v2($1, $2::int[], $3::bigint[], $4::bigint[], "
      "$5::text[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::bigint[], "
      "$11::bigint[], $12::text[], $13, $14, $15)",
      {topic, partitions.str(), froms.str(), tos.str(), convs.str(), senders.str(), clients.str(),
       msg_ids.str(), bodies.str(), replies.str(), times.str(), attachments.str(), now,
       coalesce >= 0 ? pg::Param(now + coalesce) : pg::Param(nullptr),
       synchronous ? "true" : "false"});
  if (r.sqlstate() == "PF001") return fail_all(fenced_error());
  if (!r.ok()) return fail_all(storage_error(r, "append_messages"));
  if (static_cast<std::size_t>(r.rows()) != batch.size()) {
    return fail_all(make_error(Errc::internal, "append_messages: one row per message expected"));
  }
  for (int row = 0; row < r.rows(); ++row) {
    const auto i = static_cast<std::size_t>(row);
    const std::string outcome = r.text(row, 0);
    if (outcome == "new") {
      fresh[i].seq = r.i64(row, 1);
      results.emplace_back(Appended{std::move(fresh[i]), false});
    } else if (outcome == "stored") {  // before, or earlier in this batch: a retry
      results.emplace_back(Appended{read_message(r, row, 1, batch[i].conv), true});
    } else {
      results.emplace_back(make_error(Errc::not_found, "no such conversation"));
    }
  }
  return results;
}

Result<std::optional<std::int64_t>> PostgresStore::log_position(std::string_view topic,
                                                               int partition) {
  auto r = query("log_position",
                 "SELECT next_offset FROM log_positions WHERE topic = $1 AND partition = $2",
                 {topic, std::int64_t{partition}});
  if (!r) return r.error();
  if (r->rows() == 0) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(r->i64(0, 0));
}

Result<Message> PostgresStore::change_message(std::string_view conv, Seq seq, UserId sender_id,
                                              std::optional<std::string> body, TimeMs now) {
  return transaction("change_message", [&](Connection& c) -> Result<Message> {
    auto found = c.exec("SELECT sender_id, (deleted_at IS NOT NULL)::int FROM messages "
                        "WHERE conversation_id = $1 AND seq = $2 FOR UPDATE",
                        {conv, seq});
    if (!found.ok()) return storage_error(found, "change_message");
    if (found.rows() == 0) return make_error(Errc::not_found, "no such message");
    if (found.i64(0, 0) != sender_id) {
      return make_error(Errc::forbidden, "only the sender may edit or delete a message");
    }
    if (found.i64(0, 1) != 0) return make_error(Errc::conflict, "the message is deleted");
    auto rev = c.exec("UPDATE conversations SET last_rev = last_rev + 1 WHERE id = $1 "
                      "RETURNING last_rev",
                      {conv});
    if (!rev.ok() || rev.rows() != 1) return storage_error(rev, "change_message");
    auto changed =
        body ? c.exec("UPDATE messages SET body = $1, edited_at = $2, rev = $3 "
                      "WHERE conversation_id = $4 AND seq = $5",
                      {*body, now, rev.i64(0, 0), conv, seq})
             : c.exec("UPDATE messages SET body = NULL, deleted_at = $1, rev = $2 "
                      "WHERE conversation_id = $3 AND seq = $4",
                      {now, rev.i64(0, 0), conv, seq});
    if (!changed.ok()) return storage_error(changed, "change_message");
    auto r = c.exec("SELECT " PARLEY_PG_MESSAGE_COLUMNS
                    " FROM messages m JOIN users u ON u.id = m.sender_id "
                    "WHERE m.conversation_id = $1 AND m.seq = $2",
                    {conv, seq});
    if (!r.ok() || r.rows() != 1) return storage_error(r, "change_message");
    return read_message(r, 0, 0, conv);
  });
}

Result<HistoryPage> PostgresStore::changes(std::string_view conv, std::int64_t after, int limit) {
  auto r = query("changes", "SELECT " PARLEY_PG_MESSAGE_COLUMNS
                            " FROM messages m JOIN users u ON u.id = m.sender_id "
                            "WHERE m.conversation_id = $1 AND m.rev > $2 ORDER BY m.rev LIMIT $3",
                            {conv, after, std::int64_t{limit} + 1});
  if (!r) return r.error();
  HistoryPage page;
  for (int i = 0; i < r->rows(); ++i) page.messages.push_back(read_message(*r, i, 0, conv));
  drop_extra_row(page, limit);
  return page;
}

Result<HistoryPage> PostgresStore::history(std::string_view conv, const HistoryQuery& hq) {
  auto c = lease();
  if (!c) return c.error();
  const std::int64_t fetch = hq.limit + 1;  // one more tells whether there is more
  HistoryPage page;
  if (hq.after) {
    auto r = (*c)->exec("SELECT " PARLEY_PG_MESSAGE_COLUMNS
                        " FROM messages m JOIN users u ON u.id = m.sender_id "
                        "WHERE m.conversation_id = $1 AND m.seq > $2 AND m.seq < $3 "
                        "ORDER BY m.seq ASC LIMIT $4",
                        {conv, *hq.after, hq.before.value_or(INT64_MAX), fetch});
    if (!r.ok()) return storage_error(r, "history");
    for (int i = 0; i < r.rows(); ++i) page.messages.push_back(read_message(r, i, 0, conv));
    drop_extra_row(page, hq.limit);
    return page;
  }
  auto r = (*c)->exec("SELECT " PARLEY_PG_MESSAGE_COLUMNS
                      " FROM messages m JOIN users u ON u.id = m.sender_id "
                      "WHERE m.conversation_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3",
                      {conv, hq.before.value_or(INT64_MAX), fetch});
  if (!r.ok()) return storage_error(r, "history");
  for (int i = r.rows() - 1; i >= 0; --i) page.messages.push_back(read_message(r, i, 0, conv));
  drop_extra_row(page, hq.limit, /*extra_first=*/true);
  return page;
}

// ---- files (FileCatalog) --------------------------------------------------------------------

#define PARLEY_PG_FILE_COLUMNS "id, owner_id, name, mime, size, sha256, storage_key, created_at"

namespace {
FileRecord read_file(const pg::Result& r, int row) {
  FileRecord f;
  f.id = r.text(row, 0);
  f.owner_id = r.i64(row, 1);
  f.name = r.text(row, 2);
  f.mime = r.text(row, 3);
  f.size = r.i64(row, 4);
  f.sha256 = r.text(row, 5);
  f.storage_key = r.text(row, 6);
  f.created_at = r.i64(row, 7);
  return f;
}
}  // namespace

Status PostgresStore::add_file(const FileRecord& file, std::int64_t quota_bytes) {
  return transaction("add_file", [&](Connection& c) -> Status {
    // The owner's row locked: two uploads of one user check the quota one after the other.
    auto owner = c.exec("SELECT id FROM users WHERE id = $1 FOR UPDATE", {file.owner_id});
    if (!owner.ok()) return storage_error(owner, "add_file");
    auto used = c.exec("SELECT coalesce(sum(size), 0)::bigint FROM files WHERE owner_id = $1",
                       {file.owner_id});
    if (!used.ok()) return storage_error(used, "add_file");
    if (used.i64(0, 0) + file.size > quota_bytes) {
      return make_error(Errc::quota_exceeded,
                        "this upload would pass your storage quota of " +
                            std::to_string(quota_bytes) + " bytes");
    }
    auto r = c.exec("INSERT INTO files(" PARLEY_PG_FILE_COLUMNS ") "
                    "VALUES($1, $2, $3, $4, $5, $6, $7, $8)",
                    {file.id, file.owner_id, file.name, file.mime, file.size, file.sha256,
                     file.storage_key, file.created_at});
    if (r.unique_violation()) return make_error(Errc::conflict, "file id exists");
    if (!r.ok()) return storage_error(r, "add_file");
    return ok_status();
  });
}

Result<FileRecord> PostgresStore::get_file(std::string_view id) {
  auto r = query("get_file", "SELECT " PARLEY_PG_FILE_COLUMNS " FROM files WHERE id = $1", {id});
  if (!r) return r.error();
  if (r->rows() == 0) return make_error(Errc::not_found, "no such file");
  return read_file(*r, 0);
}

Result<std::int64_t> PostgresStore::bytes_owned(UserId owner) {
  auto r = query("bytes_owned",
                 "SELECT coalesce(sum(size), 0)::bigint FROM files WHERE owner_id = $1", {owner});
  if (!r) return r.error();
  return r->i64(0, 0);
}

Status PostgresStore::link_file(std::string_view file_id, std::string_view conv, UserId sender,
                                std::string_view client_msg_id) {
  auto r = query("link_file",
                 "INSERT INTO file_links(file_id, conversation_id, sender_id, client_msg_id) "
                 "VALUES($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                 {file_id, conv, sender, client_msg_id});
  if (!r) return r.error();
  return ok_status();
}

Result<bool> PostgresStore::shared_with(std::string_view file_id, UserId user) {
  auto r = query("shared_with",
                 "SELECT 1 FROM file_links l "
                 "JOIN members mm ON mm.conversation_id = l.conversation_id AND mm.user_id = $2 "
                 "JOIN messages m ON m.conversation_id = l.conversation_id "
                 "  AND m.sender_id = l.sender_id AND m.client_msg_id = l.client_msg_id "
                 "WHERE l.file_id = $1 AND m.deleted_at IS NULL LIMIT 1",
                 {file_id, user});
  if (!r) return r.error();
  return r->rows() > 0;
}

Result<std::vector<FileRecord>> PostgresStore::unattached_files(TimeMs before, int limit) {
  auto r = query("unattached_files",
                 "SELECT " PARLEY_PG_FILE_COLUMNS " FROM files f WHERE created_at < $1 "
                 "AND NOT EXISTS (SELECT 1 FROM file_links l WHERE l.file_id = f.id) "
                 "ORDER BY created_at LIMIT $2",
                 {before, std::int64_t{limit}});
  if (!r) return r.error();
  std::vector<FileRecord> out;
  for (int i = 0; i < r->rows(); ++i) out.push_back(read_file(*r, i));
  return out;
}

Status PostgresStore::remove_file(std::string_view id) {
  return transaction("remove_file", [&](Connection& c) -> Status {
    auto links = c.exec("DELETE FROM file_links WHERE file_id = $1", {id});
    if (!links.ok()) return storage_error(links, "remove_file");
    auto r = c.exec("DELETE FROM files WHERE id = $1", {id});
    if (!r.ok()) return storage_error(r, "remove_file");
    if (r.affected() == 0) return make_error(Errc::not_found, "no such file");
    return ok_status();
  });
}

Result<std::vector<FileRecord>> PostgresStore::files_by_id(std::string_view after_id, int limit) {
  auto r = query("files_by_id",
                 "SELECT " PARLEY_PG_FILE_COLUMNS " FROM files WHERE id > $1 ORDER BY id LIMIT $2",
                 {after_id, std::int64_t{limit}});
  if (!r) return r.error();
  std::vector<FileRecord> out;
  for (int i = 0; i < r->rows(); ++i) out.push_back(read_file(*r, i));
  return out;
}

Result<bool> PostgresStore::reseal_file_name(std::string_view id, std::string_view expected,
                                             std::string_view name) {
  auto r = query("reseal_file_name", "UPDATE files SET name = $1 WHERE id = $2 AND name = $3",
                 {name, id, expected});
  if (!r) return r.error();
  return r->affected() > 0;
}

}  // namespace parley

namespace parley {

Result<std::optional<Message>> PostgresStore::message(std::string_view conv, Seq seq) {
  auto r = query("message",
                 "SELECT " PARLEY_PG_MESSAGE_COLUMNS
                 " FROM messages m JOIN users u ON u.id = m.sender_id "
                 "WHERE m.conversation_id = $1 AND m.seq = $2",
                 {conv, seq});
  if (!r) return r.error();
  if (r->rows() == 0) return std::optional<Message>();
  return std::optional<Message>(read_message(*r, 0, 0, conv));
}

Result<std::vector<Message>> PostgresStore::messages_by_id(std::string_view after_id, int limit) {
  auto r = query("messages_by_id",
                 "SELECT m.conversation_id, " PARLEY_PG_MESSAGE_COLUMNS
                 " FROM messages m JOIN users u ON u.id = m.sender_id "
                 "WHERE m.id > $1 ORDER BY m.id LIMIT $2",
                 {after_id, std::int64_t{limit}});
  if (!r) return r.error();
  std::vector<Message> out;
  out.reserve(static_cast<std::size_t>(r->rows()));
  for (int i = 0; i < r->rows(); ++i) out.push_back(read_message(*r, i, 1, r->text(i, 0)));
  return out;
}

Result<int> PostgresStore::reseal_messages(std::span<const Resealed> changes) {
  return transaction("reseal_messages", [&](Connection& c) -> Result<int> {
    int replaced = 0;
    for (const auto& ch : changes) {
      // Compared as read: body NULL (a tombstone) and '[]' (no attachments) read as "".
      auto r = c.exec(
          "UPDATE messages SET body = $3, attachments = coalesce(nullif($4, ''), '[]') "
          "WHERE conversation_id = $1 AND seq = $2 AND coalesce(body, '') = $5 "
          "AND coalesce(nullif(attachments, '[]'), '') = $6",
          {ch.conv, ch.seq, ch.body, ch.attachments, ch.body_before, ch.attachments_before});
      if (!r.ok()) return storage_error(r, "reseal_messages");
      replaced += static_cast<int>(r.affected());
    }
    return replaced;
  });
}

// ---- the key directory (DeviceCatalog) -------------------------------------------------------

#define PARLEY_PG_DEVICE_COLUMNS                                                          \
  "d.user_id, d.device, d.identity_key, d.dh_key, d.dh_signature, d.signed_prekey_id, "   \
  "d.signed_prekey, d.signed_prekey_signature, d.created_at, "                            \
  "(SELECT count(*) FROM one_time_prekeys o WHERE o.user_id = d.user_id AND o.device = d.device)"

namespace {
DeviceKeys read_device(const pg::Result& r, int row) {
  DeviceKeys d;
  d.user_id = r.i64(row, 0);
  d.device = r.text(row, 1);
  d.identity_key = r.text(row, 2);
  d.dh_key = r.text(row, 3);
  d.dh_signature = r.text(row, 4);
  d.signed_prekey_id = r.i64(row, 5);
  d.signed_prekey = r.text(row, 6);
  d.signed_prekey_signature = r.text(row, 7);
  d.created_at = r.i64(row, 8);
  d.one_time_prekeys = r.i64(row, 9);
  return d;
}
}  // namespace

Result<bool> PostgresStore::put_device(const DeviceKeys& keys, int max_devices) {
  return transaction("put_device", [&](Connection& c) -> Result<bool> {
    // The owner's row locked: two new devices of one user count the devices one after the other.
    auto owner = c.exec("SELECT id FROM users WHERE id = $1 FOR UPDATE", {keys.user_id});
    if (!owner.ok()) return storage_error(owner, "put_device");
    auto existing = c.exec("SELECT device, identity_key FROM devices WHERE user_id = $1",
                           {keys.user_id});
    if (!existing.ok()) return storage_error(existing, "put_device");
    std::optional<std::string> old_identity;
    for (int i = 0; i < existing.rows(); ++i) {
      if (existing.text(i, 0) == keys.device) old_identity = existing.text(i, 1);
    }
    if (!old_identity && existing.rows() >= max_devices) {
      return make_error(Errc::too_large,
                        "you have " + std::to_string(max_devices) + " devices: remove one first");
    }
    if (old_identity && *old_identity != keys.identity_key) {
      auto d = c.exec("DELETE FROM one_time_prekeys WHERE user_id = $1 AND device = $2",
                      {keys.user_id, keys.device});
      if (!d.ok()) return storage_error(d, "put_device");
    }
    auto r = c.exec(
        "INSERT INTO devices(user_id, device, identity_key, dh_key, dh_signature, "
        "signed_prekey_id, signed_prekey, signed_prekey_signature, created_at) "
        "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (user_id, device) DO UPDATE SET "
        "identity_key = excluded.identity_key, dh_key = excluded.dh_key, "
        "dh_signature = excluded.dh_signature, signed_prekey_id = excluded.signed_prekey_id, "
        "signed_prekey = excluded.signed_prekey, "
        "signed_prekey_signature = excluded.signed_prekey_signature",
        {keys.user_id, keys.device, keys.identity_key, keys.dh_key, keys.dh_signature,
         keys.signed_prekey_id, keys.signed_prekey, keys.signed_prekey_signature,
         keys.created_at});
    if (!r.ok()) return storage_error(r, "put_device");
    return !old_identity.has_value();
  });
}

Result<std::int64_t> PostgresStore::add_one_time_prekeys(UserId user, std::string_view device,
                                                         const std::vector<OneTimePrekey>& keys,
                                                         std::int64_t max_stored) {
  return transaction("add_one_time_prekeys", [&](Connection& c) -> Result<std::int64_t> {
    auto found = c.exec("SELECT 1 FROM devices WHERE user_id = $1 AND device = $2 FOR UPDATE",
                        {user, device});
    if (!found.ok()) return storage_error(found, "add_one_time_prekeys");
    if (found.rows() == 0) {
      return make_error(Errc::not_found, "you have no device called " + std::string(device));
    }
    for (const auto& key : keys) {
      auto r = c.exec("INSERT INTO one_time_prekeys(user_id, device, id, key) "
                      "VALUES($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                      {user, device, key.id, key.key});
      if (!r.ok()) return storage_error(r, "add_one_time_prekeys");
    }
    auto count = c.exec("SELECT count(*) FROM one_time_prekeys WHERE user_id = $1 AND device = $2",
                        {user, device});
    if (!count.ok()) return storage_error(count, "add_one_time_prekeys");
    if (count.i64(0, 0) > max_stored) {  // rolled back by transaction()
      return make_error(Errc::too_large, "a device keeps at most " + std::to_string(max_stored) +
                                             " one-time prekeys");
    }
    return count.i64(0, 0);
  });
}

Result<std::vector<DeviceKeys>> PostgresStore::devices_of(UserId user, bool claim) {
  return transaction("devices_of", [&](Connection& c) -> Result<std::vector<DeviceKeys>> {
    auto r = c.exec("SELECT " PARLEY_PG_DEVICE_COLUMNS " FROM devices d WHERE d.user_id = $1 "
                    "ORDER BY d.created_at, d.device",
                    {user});
    if (!r.ok()) return storage_error(r, "devices_of");
    std::vector<DeviceKeys> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(read_device(r, i));
    if (!claim) return out;
    for (auto& d : out) {
      // SKIP LOCKED: two fetches at once are handed different prekeys, neither waits.
      auto taken = c.exec(
          "DELETE FROM one_time_prekeys WHERE (user_id, device, id) = (SELECT user_id, device, id "
          "FROM one_time_prekeys WHERE user_id = $1 AND device = $2 ORDER BY id LIMIT 1 "
          "FOR UPDATE SKIP LOCKED) RETURNING id, key",
          {user, d.device});
      if (!taken.ok()) return storage_error(taken, "devices_of");
      if (taken.rows() == 1) {
        d.one_time_prekey = OneTimePrekey{taken.i64(0, 0), taken.text(0, 1)};
        --d.one_time_prekeys;
      }
    }
    return out;
  });
}

Status PostgresStore::remove_device(UserId user, std::string_view device) {
  return transaction("remove_device", [&](Connection& c) -> Status {
    auto keys = c.exec("DELETE FROM one_time_prekeys WHERE user_id = $1 AND device = $2",
                       {user, device});
    if (!keys.ok()) return storage_error(keys, "remove_device");
    auto r = c.exec("DELETE FROM devices WHERE user_id = $1 AND device = $2", {user, device});
    if (!r.ok()) return storage_error(r, "remove_device");
    if (r.affected() == 0) {
      return make_error(Errc::not_found, "you have no device called " + std::string(device));
    }
    return ok_status();
  });
}

}  // namespace parley
