// SqliteStore as a PushCatalog (store/push_catalog.hpp): the push_subscriptions, push_state and
// push_jobs tables. Claims are leases (leased_until) so that the same SQL would serve several
// dispatchers; the embedded node has one. A claim also moves the row's due_at to the lease's end
// (when it is due again should the claimer die), so that the claims' index scan (by due_at)
// never walks over rows that are leased.
//
// Two write connections, both under write_mutex_: what users asked for (subscriptions, mutes)
// commits on writer_, durable before the reply like everything acknowledged; the dispatcher's
// bookkeeping (notes, claims, leases, job outcomes) on bookkeeper_, which does not fsync. A power
// loss may undo its last transactions — never a message, never a subscription — and what it undoes
// is done again: bursts are noted again from push_progress (recover()), a job is sent again under
// the same idempotency key, a gone subscription answers 410 again. A process crash undoes nothing
// (the WAL is in the page cache). It was a third of a push's CPU (docs/performance.md).
#include <algorithm>
#include <map>

#include "store/sqlite/reader_lease.hpp"
#include "store/sqlite/shared.hpp"

namespace parley {

using sqlite::Db;
using sqlite::Query;
using sqlite::storage_error;
using namespace chat;

namespace {

#define PARLEY_PUSH_SUBSCRIPTION_COLUMNS \
  "s.id, s.user_id, s.session_id, s.kind, s.endpoint, s.device_key, s.secret, s.created_at"

PushSubscription read_subscription(const Query& q, int col = 0) {
  PushSubscription s;
  s.id = q.i64(col);
  s.user_id = q.i64(col + 1);
  s.session_id = q.i64(col + 2);
  s.kind = push_kind_from_string(q.text(col + 3)).value_or(PushSubscription::Kind::web_push);
  s.endpoint = q.text(col + 4);
  s.key = q.text(col + 5);
  s.secret = q.text(col + 6);
  s.created_at = q.i64(col + 7);
  return s;
}

Status delete_subscription(Db& db, std::int64_t id) {
  Query jobs(db, "DELETE FROM push_jobs WHERE subscription_id = ?");
  jobs.bind(1, id);
  jobs.step();
  if (jobs.failed()) return storage_error(db, "delete_push_subscription");
  Query q(db, "DELETE FROM push_subscriptions WHERE id = ?");
  q.bind(1, id);
  q.step();
  if (q.failed()) return storage_error(db, "delete_push_subscription");
  return ok_status();
}

}  // namespace

Result<PushSubscription> SqliteStore::put_push_subscription(const PushSubscription& s,
                                                            int max_per_user) {
  return sqlite::write_transaction(write_mutex_, *writer_, "put_push_subscription",
                                   [&]() -> Result<PushSubscription> {
    {
      // A subscribe that raced a logout must not outlive the session (the trigger has run).
      Query q(*writer_, "SELECT 1 FROM sessions WHERE id = ? AND revoked_at IS NULL");
      q.bind(1, s.session_id);
      if (!q.step()) {
        if (q.failed()) return storage_error(*writer_, "put_push_subscription");
        return make_error(Errc::unauthenticated, "this login session has ended");
      }
    }
    // The session's earlier subscription, and this device under any other session, make way.
    {
      Query q(*writer_, "SELECT id FROM push_subscriptions WHERE session_id = ? OR "
                        "(kind = ? AND endpoint = ? AND device_key = ?)");
      q.bind(1, s.session_id).bind(2, to_string(s.kind)).bind(3, s.endpoint).bind(4, s.key);
      std::vector<std::int64_t> replaced;
      while (q.step()) replaced.push_back(q.i64(0));
      if (q.failed()) return storage_error(*writer_, "put_push_subscription");
      for (auto id : replaced) {
        if (auto d = delete_subscription(*writer_, id); !d) return d.error();
      }
    }
    {
      Query q(*writer_, "SELECT count(*) FROM push_subscriptions WHERE user_id = ?");
      q.bind(1, s.user_id);
      if (!q.step()) return storage_error(*writer_, "put_push_subscription");
      if (q.i64(0) >= max_per_user) {
        return make_error(Errc::too_large, "you have " + std::to_string(max_per_user) +
                                               " push subscriptions: remove one first");
      }
    }
    Query q(*writer_,
            "INSERT INTO push_subscriptions(user_id, session_id, kind, endpoint, device_key, secret, "
            "created_at) VALUES(?, ?, ?, ?, ?, ?, ?) RETURNING id");
    q.bind(1, s.user_id).bind(2, s.session_id).bind(3, to_string(s.kind)).bind(4, s.endpoint)
        .bind(5, s.key).bind(6, s.secret).bind(7, s.created_at);
    if (!q.step()) return storage_error(*writer_, "put_push_subscription");
    PushSubscription stored = s;
    stored.id = q.i64(0);
    return stored;
  });
}

Result<std::vector<PushSubscription>> SqliteStore::push_subscriptions_of(UserId user) {
  auto lease = read();
  Query q(*lease, "SELECT " PARLEY_PUSH_SUBSCRIPTION_COLUMNS
                  " FROM push_subscriptions s WHERE s.user_id = ? ORDER BY s.id");
  q.bind(1, user);
  std::vector<PushSubscription> out;
  while (q.step()) out.push_back(read_subscription(q));
  if (q.failed()) return storage_error(*lease, "push_subscriptions_of");
  return out;
}

Status SqliteStore::remove_push_subscription(UserId user, std::int64_t id) {
  return sqlite::write_transaction(write_mutex_, *writer_, "remove_push_subscription",
                                   [&]() -> Status {
    Query q(*writer_, "SELECT 1 FROM push_subscriptions WHERE id = ? AND user_id = ?");
    q.bind(1, id).bind(2, user);
    if (!q.step()) {
      if (q.failed()) return storage_error(*writer_, "remove_push_subscription");
      return make_error(Errc::not_found, "no such push subscription");
    }
    return delete_subscription(*writer_, id);
  });
}

Status SqliteStore::drop_push_subscription(std::int64_t id) {
  return sqlite::write_transaction(write_mutex_, *bookkeeper_, "drop_push_subscription",
                                   [&]() -> Status { return delete_subscription(*bookkeeper_, id); });
}

Status SqliteStore::set_push_mute(UserId user, std::string_view conv, TimeMs until) {
  return sqlite::write_transaction(write_mutex_, *writer_, "set_push_mute", [&]() -> Status {
    {
      Query q(*writer_, "SELECT 1 FROM members WHERE conversation_id = ? AND user_id = ?");
      q.bind(1, conv).bind(2, user);
      if (!q.step()) {
        if (q.failed()) return storage_error(*writer_, "set_push_mute");
        return make_error(Errc::not_found, "no such conversation");
      }
    }
    Query q(*writer_, "INSERT INTO push_state(user_id, conversation_id, muted_until) "
                      "VALUES(?, ?, ?) ON CONFLICT(user_id, conversation_id) DO UPDATE SET "
                      "muted_until = excluded.muted_until");
    q.bind(1, user).bind(2, conv).bind(3, until);
    q.step();
    if (q.failed()) return storage_error(*writer_, "set_push_mute");
    return ok_status();
  });
}

Result<TimeMs> SqliteStore::push_mute(UserId user, std::string_view conv) {
  auto lease = read();
  Query q(*lease, "SELECT muted_until FROM push_state WHERE user_id = ? AND conversation_id = ?");
  q.bind(1, user).bind(2, conv);
  if (q.step()) return q.i64(0);
  if (q.failed()) return storage_error(*lease, "push_mute");
  return TimeMs{0};
}

Result<std::int64_t> SqliteStore::note_for_push(std::span<const PushNote> notes, TimeMs now,
                                                TimeMs due_at, bool record_progress) {
  if (notes.empty()) return std::int64_t{0};
  return sqlite::write_transaction(write_mutex_, *bookkeeper_, "note_for_push",
                                   [&]() -> Result<std::int64_t> {
    // The members with a subscription, once per conversation of the batch (in most there are
    // none, and their messages cost this one lookup).
    std::map<std::string_view, std::vector<UserId>> subscribed;
    for (const auto& note : notes) {
      auto [it, added] = subscribed.try_emplace(note.conv);
      if (!added) continue;
      Query q(*bookkeeper_, "SELECT m.user_id FROM members m WHERE m.conversation_id = ? AND EXISTS "
                            "(SELECT 1 FROM push_subscriptions s WHERE s.user_id = m.user_id)");
      q.bind(1, note.conv);
      while (q.step()) it->second.push_back(q.i64(0));
      if (q.failed()) return storage_error(*bookkeeper_, "note_for_push");
    }
    std::int64_t changed = 0;
    for (const auto& note : notes) {
      for (const UserId user : subscribed[note.conv]) {
        if (user == note.sender_id) continue;
        // A new burst when nothing is pending (pending_to <= pushed_seq); else the burst grows.
        Query q(*bookkeeper_,
                "INSERT INTO push_state(user_id, conversation_id, pending_from, pending_to, "
                "pending_count, first_noted_at, due_at) VALUES(?1, ?2, ?3, ?3, 1, ?4, ?5) "
                "ON CONFLICT(user_id, conversation_id) DO UPDATE SET "
                "pending_from = CASE WHEN pending_to <= pushed_seq THEN excluded.pending_from "
                "  ELSE pending_from END, "
                "pending_count = CASE WHEN pending_to <= pushed_seq THEN 1 "
                "  ELSE pending_count + 1 END, "
                "first_noted_at = CASE WHEN pending_to <= pushed_seq THEN excluded.first_noted_at "
                "  ELSE first_noted_at END, "
                "due_at = CASE WHEN pending_to <= pushed_seq THEN excluded.due_at ELSE due_at END, "
                "pending_to = excluded.pending_to "
                "WHERE excluded.pending_to > pushed_seq AND excluded.pending_to > pending_to");
        q.bind(1, user).bind(2, note.conv).bind(3, note.seq).bind(4, now).bind(5, due_at);
        q.step();
        if (q.failed()) return storage_error(*bookkeeper_, "note_for_push");
        changed += sqlite3_changes(bookkeeper_->handle());
      }
    }
    if (record_progress) {
      const auto newest = std::max_element(notes.begin(), notes.end(),
                                           [](const auto& a, const auto& b) { return a.id < b.id; });
      Query q(*bookkeeper_, "INSERT INTO push_progress(id, noted_up_to) VALUES(1, ?) "
                        "ON CONFLICT(id) DO UPDATE SET noted_up_to = excluded.noted_up_to "
                        "WHERE excluded.noted_up_to > noted_up_to");
      q.bind(1, newest->id);
      q.step();
      if (q.failed()) return storage_error(*bookkeeper_, "note_for_push");
    }
    return changed;
  });
}

Result<std::string> SqliteStore::push_noted_up_to() {
  auto lease = read();
  Query q(*lease, "SELECT noted_up_to FROM push_progress WHERE id = 1");
  if (q.step()) return q.text(0);
  if (q.failed()) return storage_error(*lease, "push_noted_up_to");
  return std::string();
}

Result<std::vector<PendingPush>> SqliteStore::claim_due_pushes(TimeMs now, TimeMs lease_until,
                                                               int limit) {
  return sqlite::write_transaction(write_mutex_, *bookkeeper_, "claim_due_pushes",
                                   [&]() -> Result<std::vector<PendingPush>> {
    std::vector<PendingPush> out;
    {
      Query q(*bookkeeper_,
              "UPDATE push_state SET leased_until = ?2, due_at = ?2 WHERE (user_id, conversation_id) IN "
              "(SELECT user_id, conversation_id FROM push_state WHERE pending_to > pushed_seq "
              " AND due_at <= ?1 AND leased_until <= ?1 ORDER BY due_at LIMIT ?3) "
              "RETURNING user_id, conversation_id, pending_from, pending_to, pending_count, "
              "first_noted_at, muted_until");
      q.bind(1, now).bind(2, lease_until).bind(3, std::int64_t{limit});
      while (q.step()) {
        PendingPush p;
        p.user_id = q.i64(0);
        p.conv = q.text(1);
        p.pending_from = q.i64(2);
        p.pending_to = q.i64(3);
        p.count = q.i64(4);
        p.first_noted_at = q.i64(5);
        p.muted_until = q.i64(6);
        p.lease = lease_until;
        out.push_back(std::move(p));
      }
      if (q.failed()) return storage_error(*bookkeeper_, "claim_due_pushes");
    }
    for (auto& p : out) {
      Query q(*bookkeeper_, "SELECT delivered_seq FROM members WHERE conversation_id = ? AND user_id = ?");
      q.bind(1, p.conv).bind(2, p.user_id);
      if (q.step()) p.delivered_seq = q.i64(0);
      if (q.failed()) return storage_error(*bookkeeper_, "claim_due_pushes");
    }
    return out;
  });
}

Result<bool> SqliteStore::postpone_push(UserId user, std::string_view conv, TimeMs lease,
                                        TimeMs due_at) {
  return sqlite::write_transaction(write_mutex_, *bookkeeper_, "postpone_push", [&]() -> Result<bool> {
    Query q(*bookkeeper_, "UPDATE push_state SET due_at = ?, leased_until = 0 "
                      "WHERE user_id = ? AND conversation_id = ? AND leased_until = ?");
    q.bind(1, due_at).bind(2, user).bind(3, conv).bind(4, lease);
    q.step();
    if (q.failed()) return storage_error(*bookkeeper_, "postpone_push");
    return sqlite3_changes(bookkeeper_->handle()) > 0;
  });
}

Result<std::int64_t> SqliteStore::finish_push(UserId user, std::string_view conv, TimeMs lease,
                                              Seq upto, std::string_view payload, TimeMs now,
                                              TimeMs expires_at, TimeMs next_due) {
  return sqlite::write_transaction(write_mutex_, *bookkeeper_, "finish_push",
                                   [&]() -> Result<std::int64_t> {
    {
      // Messages noted after `upto` stay pending, as a burst of their own.
      Query q(*bookkeeper_,
              "UPDATE push_state SET pushed_seq = ?3, leased_until = 0, "
              "pending_from = CASE WHEN pending_to > ?3 THEN ?3 + 1 ELSE pending_from END, "
              "pending_count = CASE WHEN pending_to > ?3 THEN min(pending_count, pending_to - ?3) "
              "  ELSE 0 END, "
              "first_noted_at = CASE WHEN pending_to > ?3 THEN ?5 ELSE first_noted_at END, "
              "due_at = CASE WHEN pending_to > ?3 THEN ?6 ELSE due_at END "
              "WHERE user_id = ?1 AND conversation_id = ?2 AND leased_until = ?4 "
              "AND pushed_seq < ?3");
      q.bind(1, user).bind(2, conv).bind(3, upto).bind(4, lease).bind(5, now).bind(6, next_due);
      q.step();
      if (q.failed()) return storage_error(*bookkeeper_, "finish_push");
      if (sqlite3_changes(bookkeeper_->handle()) == 0) return std::int64_t{0};  // the lease was lost
    }
    if (payload.empty()) return std::int64_t{0};
    Query q(*bookkeeper_,
            "INSERT OR IGNORE INTO push_jobs(subscription_id, conversation_id, seq, payload, "
            "due_at, expires_at) SELECT s.id, ?2, ?3, ?4, ?5, ?6 FROM push_subscriptions s "
            "WHERE s.user_id = ?1");
    q.bind(1, user).bind(2, conv).bind(3, upto).bind(4, payload).bind(5, now).bind(6, expires_at);
    q.step();
    if (q.failed()) return storage_error(*bookkeeper_, "finish_push");
    return std::int64_t{sqlite3_changes(bookkeeper_->handle())};
  });
}

Result<std::vector<PushJob>> SqliteStore::claim_push_jobs(TimeMs now, TimeMs lease_until,
                                                          int limit, unsigned kinds) {
  return sqlite::write_transaction(write_mutex_, *bookkeeper_, "claim_push_jobs",
                                   [&]() -> Result<std::vector<PushJob>> {
    std::vector<PushJob> out;
    {
      Query q(*bookkeeper_,
              "UPDATE push_jobs SET leased_until = ?2, due_at = ?2 WHERE (subscription_id, conversation_id, seq) "
              "IN (SELECT j.subscription_id, j.conversation_id, j.seq FROM push_jobs j "
              " JOIN push_subscriptions s ON s.id = j.subscription_id "
              " WHERE j.due_at <= ?1 AND j.leased_until <= ?1 AND (?4 & CASE s.kind "
              "  WHEN 'web_push' THEN 1 WHEN 'webhook' THEN 2 ELSE 4 END) != 0 "
              " ORDER BY j.due_at LIMIT ?3) "
              "RETURNING subscription_id, conversation_id, seq, payload, attempts, expires_at");
      q.bind(1, now).bind(2, lease_until).bind(3, std::int64_t{limit})
          .bind(4, std::int64_t{kinds});
      while (q.step()) {
        PushJob j;
        j.subscription.id = q.i64(0);
        j.conv = q.text(1);
        j.seq = q.i64(2);
        j.payload = q.text(3);
        j.attempts = static_cast<int>(q.i64(4));
        j.expires_at = q.i64(5);
        j.lease = lease_until;
        out.push_back(std::move(j));
      }
      if (q.failed()) return storage_error(*bookkeeper_, "claim_push_jobs");
    }
    for (auto& j : out) {
      Query q(*bookkeeper_, "SELECT " PARLEY_PUSH_SUBSCRIPTION_COLUMNS
                        " FROM push_subscriptions s WHERE s.id = ?");
      q.bind(1, j.subscription.id);
      if (q.step()) j.subscription = read_subscription(q);
      if (q.failed()) return storage_error(*bookkeeper_, "claim_push_jobs");
    }
    return out;
  });
}

Status SqliteStore::finish_push_job(std::int64_t subscription, std::string_view conv, Seq seq) {
  return sqlite::write_transaction(write_mutex_, *bookkeeper_, "finish_push_job", [&]() -> Status {
    Query q(*bookkeeper_, "DELETE FROM push_jobs WHERE subscription_id = ? AND conversation_id = ? "
                      "AND seq = ?");
    q.bind(1, subscription).bind(2, conv).bind(3, seq);
    q.step();
    if (q.failed()) return storage_error(*bookkeeper_, "finish_push_job");
    return ok_status();
  });
}

Result<bool> SqliteStore::renew_push_job(std::int64_t subscription, std::string_view conv,
                                         Seq seq, TimeMs lease, TimeMs new_lease) {
  return sqlite::write_transaction(write_mutex_, *bookkeeper_, "renew_push_job", [&]() -> Result<bool> {
    Query q(*bookkeeper_, "UPDATE push_jobs SET leased_until = ?1, due_at = ?1 WHERE subscription_id = ? AND "
                      "conversation_id = ? AND seq = ? AND leased_until = ?");
    q.bind(1, new_lease).bind(2, subscription).bind(3, conv).bind(4, seq).bind(5, lease);
    q.step();
    if (q.failed()) return storage_error(*bookkeeper_, "renew_push_job");
    return sqlite3_changes(bookkeeper_->handle()) > 0;
  });
}

Status SqliteStore::reschedule_push_job(std::int64_t subscription, std::string_view conv, Seq seq,
                                        TimeMs lease, TimeMs next_at, bool failed) {
  return sqlite::write_transaction(write_mutex_, *bookkeeper_, "reschedule_push_job", [&]() -> Status {
    Query q(*bookkeeper_, "UPDATE push_jobs SET attempts = attempts + ?, due_at = ?, leased_until = 0 "
                      "WHERE subscription_id = ? AND conversation_id = ? AND seq = ? "
                      "AND leased_until = ?");
    q.bind(1, std::int64_t{failed ? 1 : 0}).bind(2, next_at).bind(3, subscription).bind(4, conv)
        .bind(5, seq).bind(6, lease);
    q.step();
    if (q.failed()) return storage_error(*bookkeeper_, "reschedule_push_job");
    return ok_status();
  });
}

Status SqliteStore::release_push_leases() {
  return sqlite::write_transaction(write_mutex_, *bookkeeper_, "release_push_leases", [&]() -> Status {
    if (!bookkeeper_->try_exec("UPDATE push_state SET leased_until = 0, due_at = 0 WHERE leased_until > 0") ||
        !bookkeeper_->try_exec("UPDATE push_jobs SET leased_until = 0, due_at = 0 WHERE leased_until > 0")) {
      return storage_error(*bookkeeper_, "release_push_leases");
    }
    return ok_status();
  });
}

Result<std::pair<std::int64_t, std::int64_t>> SqliteStore::push_backlog() {
  auto lease = read();
  Query q(*lease, "SELECT (SELECT count(*) FROM push_state WHERE pending_to > pushed_seq), "
                  "(SELECT count(*) FROM push_jobs)");
  if (!q.step()) return storage_error(*lease, "push_backlog");
  return std::pair{q.i64(0), q.i64(1)};
}

}  // namespace parley
