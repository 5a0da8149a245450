// PostgresStore as a PushCatalog (store/push_catalog.hpp): the push_subscriptions, push_state
// and push_jobs tables, shared by every node. Claims take rows with FOR UPDATE SKIP LOCKED and
// lease them (leased_until), so that nodes claiming at once are handed different rows and a node
// that dies gives its rows back when the lease runs out.
#include <algorithm>
#include <map>

#include "store/postgres/postgres_store_internal.hpp"
#include "store/postgres/shared_sql.hpp"

namespace parley {

using namespace chat;
using pg::Connection;
using pg::storage_error;

namespace {

#define PARLEY_PG_PUSH_SUBSCRIPTION_COLUMNS \
  "s.id, s.user_id, s.session_id, s.kind, s.endpoint, s.device_key, s.secret, s.created_at"

PushSubscription read_subscription(const pg::Result& r, int row, int col = 0) {
  PushSubscription s;
  s.id = r.i64(row, col);
  s.user_id = r.i64(row, col + 1);
  s.session_id = r.i64(row, col + 2);
  s.kind = push_kind_from_string(r.text(row, col + 3)).value_or(PushSubscription::Kind::web_push);
  s.endpoint = r.text(row, col + 4);
  s.key = r.text(row, col + 5);
  s.secret = r.text(row, col + 6);
  s.created_at = r.i64(row, col + 7);
  return s;
}

Status delete_subscription(Connection& c, std::int64_t id) {
  auto jobs = c.exec("DELETE FROM push_jobs WHERE subscription_id = $1", {id});
  if (!jobs.ok()) return storage_error(jobs, "delete_push_subscription");
  auto r = c.exec("DELETE FROM push_subscriptions WHERE id = $1", {id});
  if (!r.ok()) return storage_error(r, "delete_push_subscription");
  return ok_status();
}

}  // namespace

Result<PushSubscription> PostgresStore::put_push_subscription(const PushSubscription& s,
                                                              int max_per_user) {
  return transaction("put_push_subscription", [&](Connection& c) -> Result<PushSubscription> {
    // The user's rows are locked first, so that two subscribes of one user count in turn.
    auto locked = c.exec("SELECT id FROM users WHERE id = $1 FOR UPDATE", {s.user_id});
    if (!locked.ok()) return storage_error(locked, "put_push_subscription");
    // A subscribe that raced a logout must not outlive the session: its row is locked against
    // the revoke (whose trigger removes the session's subscriptions) until this commits.
    auto live = c.exec("SELECT 1 FROM sessions WHERE id = $1 AND revoked_at IS NULL FOR SHARE",
                       {s.session_id});
    if (!live.ok()) return storage_error(live, "put_push_subscription");
    if (live.rows() == 0) return make_error(Errc::unauthenticated, "this login session has ended");
    auto replaced = c.exec("SELECT id FROM push_subscriptions WHERE session_id = $1 OR "
                           "(kind = $2 AND endpoint = $3 AND device_key = $4)",
                           {s.session_id, to_string(s.kind), s.endpoint, s.key});
    if (!replaced.ok()) return storage_error(replaced, "put_push_subscription");
    for (int i = 0; i < replaced.rows(); ++i) {
      if (auto d = delete_subscription(c, replaced.i64(i, 0)); !d) return d.error();
    }
    auto count = c.exec("SELECT count(*) FROM push_subscriptions WHERE user_id = $1", {s.user_id});
    if (!count.ok()) return storage_error(count, "put_push_subscription");
    if (count.i64(0, 0) >= max_per_user) {
      return make_error(Errc::too_large, "you have " + std::to_string(max_per_user) +
                                             " push subscriptions: remove one first");
    }
    auto r = c.exec("INSERT INTO push_subscriptions(user_id, session_id, kind, endpoint, "
                    "device_key, secret, created_at) VALUES($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    {s.user_id, s.session_id, to_string(s.kind), s.endpoint, s.key, s.secret,
                     s.created_at});
    if (!r.ok() || r.rows() != 1) return storage_error(r, "put_push_subscription");
    PushSubscription stored = s;
    stored.id = r.i64(0, 0);
    return stored;
  });
}

Result<std::vector<PushSubscription>> PostgresStore::push_subscriptions_of(UserId user) {
  auto r = query("push_subscriptions_of",
                 "SELECT " PARLEY_PG_PUSH_SUBSCRIPTION_COLUMNS
                 " FROM push_subscriptions s WHERE s.user_id = $1 ORDER BY s.id",
                 {user});
  if (!r) return r.error();
  std::vector<PushSubscription> out;
  for (int i = 0; i < r->rows(); ++i) out.push_back(read_subscription(*r, i));
  return out;
}

Status PostgresStore::remove_push_subscription(UserId user, std::int64_t id) {
  return transaction("remove_push_subscription", [&](Connection& c) -> Status {
    auto r = c.exec("SELECT 1 FROM push_subscriptions WHERE id = $1 AND user_id = $2", {id, user});
    if (!r.ok()) return storage_error(r, "remove_push_subscription");
    if (r.rows() == 0) return make_error(Errc::not_found, "no such push subscription");
    return delete_subscription(c, id);
  });
}

Status PostgresStore::drop_push_subscription(std::int64_t id) {
  return transaction("drop_push_subscription",
                     [&](Connection& c) -> Status { return delete_subscription(c, id); });
}

Status PostgresStore::set_push_mute(UserId user, std::string_view conv, TimeMs until) {
  return transaction("set_push_mute", [&](Connection& c) -> Status {
    auto member = c.exec("SELECT 1 FROM members WHERE conversation_id = $1 AND user_id = $2",
                         {conv, user});
    if (!member.ok()) return storage_error(member, "set_push_mute");
    if (member.rows() == 0) return make_error(Errc::not_found, "no such conversation");
    auto r = c.exec("INSERT INTO push_state(user_id, conversation_id, muted_until) "
                    "VALUES($1, $2, $3) ON CONFLICT(user_id, conversation_id) DO UPDATE SET "
                    "muted_until = excluded.muted_until",
                    {user, conv, until});
    if (!r.ok()) return storage_error(r, "set_push_mute");
    return ok_status();
  });
}

Result<TimeMs> PostgresStore::push_mute(UserId user, std::string_view conv) {
  auto r = query("push_mute",
                 "SELECT muted_until FROM push_state WHERE user_id = $1 AND conversation_id = $2",
                 {user, conv});
  if (!r) return r.error();
  return r->rows() ? r->i64(0, 0) : TimeMs{0};
}

Result<std::int64_t> PostgresStore::note_for_push(std::span<const PushNote> notes, TimeMs now,
                                                  TimeMs due_at, bool record_progress) {
  if (notes.empty()) return std::int64_t{0};
  return transaction("note_for_push", [&](Connection& c) -> Result<std::int64_t> {
    // As SqliteStore: the members with a subscription of the batch's conversations, in one
    // query (in most conversations there are none).
    std::map<std::string_view, std::vector<UserId>> subscribed;
    pg::ArrayParam conversations;
    for (const auto& note : notes) {
      if (subscribed.try_emplace(note.conv).second) conversations.add(note.conv);
    }
    auto members = c.exec("SELECT m.conversation_id, m.user_id FROM members m "
                          "WHERE m.conversation_id = ANY($1::text[]) AND EXISTS "
                          "(SELECT 1 FROM push_subscriptions s WHERE s.user_id = m.user_id)",
                          {conversations.str()});
    if (!members.ok()) return storage_error(members, "note_for_push");
    for (int i = 0; i < members.rows(); ++i) {
      const auto it = subscribed.find(members.text(i, 0));
      if (it != subscribed.end()) it->second.push_back(members.i64(i, 1));
    }
    std::int64_t changed = 0;
    for (const auto& note : notes) {
      for (const UserId user : subscribed[note.conv]) {
        if (user == note.sender_id) continue;
        auto r = c.exec(
            "INSERT INTO push_state AS p(user_id, conversation_id, pending_from, pending_to, "
            "pending_count, first_noted_at, due_at) VALUES($1, $2, $3, $3, 1, $4, $5) "
            PARLEY_PG_PUSH_BURST_GROWS,
            {user, note.conv, note.seq, now, due_at});
        if (!r.ok()) return storage_error(r, "note_for_push");
        changed += r.affected();
      }
    }
    if (record_progress) {
      const auto newest = std::max_element(notes.begin(), notes.end(),
                                           [](const auto& a, const auto& b) { return a.id < b.id; });
      auto r = c.exec("INSERT INTO push_progress AS p(id, noted_up_to) VALUES(1, $1) "
                      "ON CONFLICT(id) DO UPDATE SET noted_up_to = excluded.noted_up_to "
                      "WHERE excluded.noted_up_to > p.noted_up_to",
                      {newest->id});
      if (!r.ok()) return storage_error(r, "note_for_push");
    }
    return changed;
  });
}

bool PostgresStore::note_at_commit(std::chrono::milliseconds coalesce) {
  note_at_commit_ms_ = std::max<std::int64_t>(0, coalesce.count());
  return true;
}

Result<std::string> PostgresStore::push_noted_up_to() {
  auto r = query("push_noted_up_to", "SELECT noted_up_to FROM push_progress WHERE id = 1");
  if (!r) return r.error();
  return r->rows() ? r->text(0, 0) : std::string();
}

Result<std::vector<PendingPush>> PostgresStore::claim_due_pushes(TimeMs now, TimeMs lease_until,
                                                                 int limit) {
  return transaction("claim_due_pushes", [&](Connection& c) -> Result<std::vector<PendingPush>> {
    auto r = c.exec(
        "UPDATE push_state p SET leased_until = $2, due_at = $2 FROM (SELECT user_id, conversation_id "
        " FROM push_state WHERE pending_to > pushed_seq AND due_at <= $1 AND leased_until <= $1 "
        " ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED) due "
        "WHERE p.user_id = due.user_id AND p.conversation_id = due.conversation_id "
        "RETURNING p.user_id, p.conversation_id, p.pending_from, p.pending_to, p.pending_count, "
        "p.first_noted_at, p.muted_until, (SELECT m.delivered_seq FROM members m "
        " WHERE m.conversation_id = p.conversation_id AND m.user_id = p.user_id)",
        {now, lease_until, limit});
    if (!r.ok()) return storage_error(r, "claim_due_pushes");
    std::vector<PendingPush> out;
    for (int i = 0; i < r.rows(); ++i) {
      PendingPush p;
      p.user_id = r.i64(i, 0);
      p.conv = r.text(i, 1);
      p.pending_from = r.i64(i, 2);
      p.pending_to = r.i64(i, 3);
      p.count = r.i64(i, 4);
      p.first_noted_at = r.i64(i, 5);
      p.muted_until = r.i64(i, 6);
      p.delivered_seq = r.opt_i64(i, 7);
      p.lease = lease_until;
      out.push_back(std::move(p));
    }
    return out;
  });
}

Result<bool> PostgresStore::postpone_push(UserId user, std::string_view conv, TimeMs lease,
                                          TimeMs due_at) {
  auto r = query("postpone_push",
                 "UPDATE push_state SET due_at = $1, leased_until = 0 "
                 "WHERE user_id = $2 AND conversation_id = $3 AND leased_until = $4",
                 {due_at, user, conv, lease});
  if (!r) return r.error();
  return r->affected() > 0;
}

Result<std::int64_t> PostgresStore::finish_push(UserId user, std::string_view conv, TimeMs lease,
                                                Seq upto, std::string_view payload, TimeMs now,
                                                TimeMs expires_at, TimeMs next_due) {
  return transaction("finish_push", [&](Connection& c) -> Result<std::int64_t> {
    // Messages noted after `upto` stay pending, as a burst of their own.
    auto state = c.exec(
        "UPDATE push_state SET pushed_seq = $3, leased_until = 0, "
        "pending_from = CASE WHEN pending_to > $3 THEN $3 + 1 ELSE pending_from END, "
        "pending_count = CASE WHEN pending_to > $3 THEN LEAST(pending_count, pending_to - $3) "
        "  ELSE 0 END, "
        "first_noted_at = CASE WHEN pending_to > $3 THEN $5 ELSE first_noted_at END, "
        "due_at = CASE WHEN pending_to > $3 THEN $6 ELSE due_at END "
        "WHERE user_id = $1 AND conversation_id = $2 AND leased_until = $4 AND pushed_seq < $3",
        {user, conv, upto, lease, now, next_due});
    if (!state.ok()) return storage_error(state, "finish_push");
    if (state.affected() == 0) return std::int64_t{0};  // the lease was lost
    if (payload.empty()) return std::int64_t{0};
    auto jobs = c.exec(
        "INSERT INTO push_jobs(subscription_id, conversation_id, seq, payload, due_at, "
        "expires_at) SELECT s.id, $2, $3, $4, $5, $6 FROM push_subscriptions s "
        "WHERE s.user_id = $1 ON CONFLICT DO NOTHING",
        {user, conv, upto, payload, now, expires_at});
    if (!jobs.ok()) return storage_error(jobs, "finish_push");
    return jobs.affected();
  });
}

Result<std::vector<PushJob>> PostgresStore::claim_push_jobs(TimeMs now, TimeMs lease_until,
                                                            int limit, unsigned kinds) {
  return transaction("claim_push_jobs", [&](Connection& c) -> Result<std::vector<PushJob>> {
    auto r = c.exec(
        "UPDATE push_jobs j SET leased_until = $2, due_at = $2 FROM (SELECT d.subscription_id, "
        " d.conversation_id, d.seq FROM push_jobs d JOIN push_subscriptions k ON "
        " k.id = d.subscription_id WHERE d.due_at <= $1 AND d.leased_until <= $1 AND ($4 & CASE "
        " k.kind WHEN 'web_push' THEN 1 WHEN 'webhook' THEN 2 ELSE 4 END) != 0 "
        " ORDER BY d.due_at LIMIT $3 FOR UPDATE OF d SKIP LOCKED) due, push_subscriptions s "
        "WHERE j.subscription_id = due.subscription_id AND j.conversation_id = "
        "due.conversation_id AND j.seq = due.seq AND s.id = j.subscription_id "
        "RETURNING j.conversation_id, j.seq, j.payload, j.attempts, j.expires_at, " PARLEY_PG_PUSH_SUBSCRIPTION_COLUMNS,
        {now, lease_until, limit, static_cast<std::int64_t>(kinds)});
    if (!r.ok()) return storage_error(r, "claim_push_jobs");
    std::vector<PushJob> out;
    for (int i = 0; i < r.rows(); ++i) {
      PushJob j;
      j.conv = r.text(i, 0);
      j.seq = r.i64(i, 1);
      j.payload = r.text(i, 2);
      j.attempts = static_cast<int>(r.i64(i, 3));
      j.expires_at = r.i64(i, 4);
      j.subscription = read_subscription(r, i, 5);
      j.lease = lease_until;
      out.push_back(std::move(j));
    }
    return out;
  });
}

Status PostgresStore::finish_push_job(std::int64_t subscription, std::string_view conv, Seq seq) {
  auto r = query("finish_push_job",
                 "DELETE FROM push_jobs WHERE subscription_id = $1 AND conversation_id = $2 "
                 "AND seq = $3",
                 {subscription, conv, seq});
  if (!r) return r.error();
  return ok_status();
}

Result<bool> PostgresStore::renew_push_job(std::int64_t subscription, std::string_view conv,
                                           Seq seq, TimeMs lease, TimeMs new_lease) {
  auto r = query("renew_push_job",
                 "UPDATE push_jobs SET leased_until = $1, due_at = $1 WHERE subscription_id = $2 AND "
                 "conversation_id = $3 AND seq = $4 AND leased_until = $5",
                 {new_lease, subscription, conv, seq, lease});
  if (!r) return r.error();
  return r->affected() > 0;
}

Status PostgresStore::reschedule_push_job(std::int64_t subscription, std::string_view conv,
                                          Seq seq, TimeMs lease, TimeMs next_at, bool failed) {
  auto r = query("reschedule_push_job",
                 "UPDATE push_jobs SET attempts = attempts + $1, due_at = $2, leased_until = 0 "
                 "WHERE subscription_id = $3 AND conversation_id = $4 AND seq = $5 "
                 "AND leased_until = $6",
                 {failed ? 1 : 0, next_at, subscription, conv, seq, lease});
  if (!r) return r.error();
  return ok_status();
}

Status PostgresStore::release_push_leases() {
  return transaction("release_push_leases", [&](Connection& c) -> Status {
    auto a = c.exec("UPDATE push_state SET leased_until = 0, due_at = 0 WHERE leased_until > 0");
    if (!a.ok()) return storage_error(a, "release_push_leases");
    auto b = c.exec("UPDATE push_jobs SET leased_until = 0, due_at = 0 WHERE leased_until > 0");
    if (!b.ok()) return storage_error(b, "release_push_leases");
    return ok_status();
  });
}

Result<std::pair<std::int64_t, std::int64_t>> PostgresStore::push_backlog() {
  auto r = query("push_backlog",
                 "SELECT (SELECT count(*) FROM push_state WHERE pending_to > pushed_seq), "
                 "(SELECT count(*) FROM push_jobs)");
  if (!r) return r.error();
  return std::pair{r->i64(0, 0), r->i64(0, 1)};
}

}  // namespace parley
