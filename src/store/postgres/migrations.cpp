#include "store/postgres/migrations.hpp"

#include <iterator>
#include <stdexcept>
#include <string>

#include "store/postgres/shared_sql.hpp"

namespace parley::postgres {
namespace {

// Times are integer milliseconds since the Unix epoch (UTC). Ids of conversations, messages and
// files are UUIDv7 text. See docs/architecture.md §6. The two schemas differ in numbering (SQLite
// has versions of its own, for its inbox and journal): each migration names its SQLite twin.
constexpr const char* kMigrations[] = {
    // 1: the data model of the foundation.
    R"sql(
CREATE TABLE users(
  id            BIGSERIAL PRIMARY KEY,
  username      TEXT UNIQUE,
  email         TEXT UNIQUE,
  name          TEXT NOT NULL DEFAULT '',
  image         TEXT,
  provider      TEXT NOT NULL DEFAULT 'password',
  oauth_id      TEXT,
  password_hash TEXT,
  created_at    BIGINT NOT NULL,
  last_seen_at  BIGINT,
  UNIQUE(provider, oauth_id)
);
CREATE TABLE sessions(
  id           BIGSERIAL PRIMARY KEY,
  user_id      BIGINT NOT NULL REFERENCES users(id),
  device       TEXT NOT NULL DEFAULT '',
  refresh_hash TEXT NOT NULL UNIQUE,
  created_at   BIGINT NOT NULL,
  last_used_at BIGINT NOT NULL,
  revoked_at   BIGINT
);
CREATE INDEX sessions_revoked ON sessions(revoked_at) WHERE revoked_at IS NOT NULL;
CREATE TABLE conversations(
  id            TEXT PRIMARY KEY,
  kind          TEXT NOT NULL CHECK(kind IN ('direct', 'group')),
  title         TEXT NOT NULL DEFAULT '',
  creator_id    BIGINT NOT NULL REFERENCES users(id),
  passcode_hash TEXT,
  direct_key    TEXT UNIQUE,
  created_at    BIGINT NOT NULL,
  last_seq      BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE members(
  conversation_id TEXT NOT NULL REFERENCES conversations(id),
  user_id         BIGINT NOT NULL REFERENCES users(id),
  role            TEXT NOT NULL CHECK(role IN ('owner', 'admin', 'member')),
  joined_at       BIGINT NOT NULL,
  joined_seq      BIGINT NOT NULL DEFAULT 0,
  delivered_seq   BIGINT NOT NULL DEFAULT 0,
  read_seq        BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY(conversation_id, user_id)
);
CREATE INDEX members_by_user ON members(user_id);
CREATE TABLE messages(
  conversation_id TEXT NOT NULL,
  seq             BIGINT NOT NULL,
  id              TEXT NOT NULL UNIQUE,
  sender_id       BIGINT NOT NULL,
  client_msg_id   TEXT NOT NULL,
  body            TEXT,
  attachments     TEXT NOT NULL DEFAULT '[]',
  reply_to        BIGINT,
  created_at      BIGINT NOT NULL,
  edited_at       BIGINT,
  deleted_at      BIGINT,
  PRIMARY KEY(conversation_id, seq),
  UNIQUE(conversation_id, sender_id, client_msg_id)
);
CREATE TABLE files(
  id          TEXT PRIMARY KEY,
  owner_id    BIGINT NOT NULL REFERENCES users(id),
  name        TEXT NOT NULL,
  mime        TEXT NOT NULL,
  size        BIGINT NOT NULL,
  sha256      TEXT NOT NULL,
  storage_key TEXT NOT NULL,
  created_at  BIGINT NOT NULL
);
)sql",
    // 2: edits and deletes (rev), and departures for sync.
    R"sql(
ALTER TABLE messages ADD COLUMN rev BIGINT NOT NULL DEFAULT 0;
CREATE INDEX messages_by_rev ON messages(conversation_id, rev) WHERE rev > 0;
ALTER TABLE conversations ADD COLUMN last_rev BIGINT NOT NULL DEFAULT 0;
CREATE TABLE departures(
  conversation_id TEXT NOT NULL,
  user_id         BIGINT NOT NULL,
  left_at         BIGINT NOT NULL,
  PRIMARY KEY(conversation_id, user_id)
);
CREATE INDEX departures_by_user ON departures(user_id, left_at);
)sql",
    // 3: the cluster log's consumed positions, committed with the messages they produced.
    R"sql(
CREATE TABLE log_positions(
  topic       TEXT NOT NULL,
  partition   INTEGER NOT NULL,
  next_offset BIGINT NOT NULL,
  PRIMARY KEY(topic, partition)
);
)sql",
    // 4: file sharing (store/file_catalog.hpp), as SQLite's migration 6.
    R"sql(
CREATE INDEX files_by_owner ON files(owner_id);
CREATE INDEX files_by_created ON files(created_at);
CREATE TABLE file_links(
  file_id         TEXT NOT NULL,
  conversation_id TEXT NOT NULL,
  sender_id       BIGINT NOT NULL,
  client_msg_id   TEXT NOT NULL,
  PRIMARY KEY(file_id, conversation_id, sender_id, client_msg_id)
);
)sql",
    // 5: end-to-end encryption (docs/protocol.md §11), as SQLite's migration 7.
    R"sql(
ALTER TABLE conversations ADD COLUMN e2ee SMALLINT NOT NULL DEFAULT 0;
CREATE TABLE devices(
  user_id                 BIGINT NOT NULL REFERENCES users(id),
  device                  TEXT NOT NULL,
  identity_key            TEXT NOT NULL,
  dh_key                  TEXT NOT NULL,
  dh_signature            TEXT NOT NULL,
  signed_prekey_id        BIGINT NOT NULL,
  signed_prekey           TEXT NOT NULL,
  signed_prekey_signature TEXT NOT NULL,
  created_at              BIGINT NOT NULL,
  PRIMARY KEY(user_id, device)
);
CREATE TABLE one_time_prekeys(
  user_id BIGINT NOT NULL,
  device  TEXT NOT NULL,
  id      BIGINT NOT NULL,
  key     TEXT NOT NULL,
  PRIMARY KEY(user_id, device, id)
);
)sql",
    // 6: accounts (store/account_catalog.hpp), as SQLite's migration 8.
    R"sql(
ALTER TABLE sessions ADD COLUMN provider TEXT NOT NULL DEFAULT 'password';
CREATE INDEX sessions_by_user ON sessions(user_id);
CREATE TABLE identities(
  provider   TEXT NOT NULL,
  subject    TEXT NOT NULL,
  user_id    BIGINT NOT NULL REFERENCES users(id),
  created_at BIGINT NOT NULL,
  PRIMARY KEY(provider, subject)
);
CREATE TABLE second_factors(
  user_id    BIGINT PRIMARY KEY REFERENCES users(id),
  secret     TEXT NOT NULL,
  confirmed  BIGINT NOT NULL DEFAULT 0,
  last_step  BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);
CREATE TABLE recovery_codes(
  user_id   BIGINT NOT NULL REFERENCES users(id),
  code_hash TEXT NOT NULL,
  used_at   BIGINT,
  PRIMARY KEY(user_id, code_hash)
);
)sql",
    // 7 (SQLite 9): push notifications (store/push_catalog.hpp): subscriptions (one per login
    // session, gone with it: the trigger), each member's push state per conversation, the push
    // jobs keyed by (subscription, conversation, seq), and the newest message noted (crash
    // recovery).
    R"sql(
CREATE TABLE push_subscriptions(
  id         BIGSERIAL PRIMARY KEY,
  user_id    BIGINT NOT NULL REFERENCES users(id),
  session_id BIGINT NOT NULL UNIQUE REFERENCES sessions(id),
  kind       TEXT NOT NULL CHECK(kind IN ('web_push', 'webhook', 'fcm')),
  endpoint   TEXT NOT NULL,
  device_key TEXT NOT NULL DEFAULT '',
  secret     TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  UNIQUE(kind, endpoint, device_key)
);
CREATE INDEX push_subscriptions_by_user ON push_subscriptions(user_id);
CREATE TABLE push_state(
  user_id         BIGINT NOT NULL,
  conversation_id TEXT NOT NULL,
  pushed_seq      BIGINT NOT NULL DEFAULT 0,
  pending_from    BIGINT NOT NULL DEFAULT 0,
  pending_to      BIGINT NOT NULL DEFAULT 0,
  pending_count   BIGINT NOT NULL DEFAULT 0,
  first_noted_at  BIGINT NOT NULL DEFAULT 0,
  due_at          BIGINT NOT NULL DEFAULT 0,
  leased_until    BIGINT NOT NULL DEFAULT 0,
  muted_until     BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY(user_id, conversation_id)
);
CREATE INDEX push_state_due ON push_state(due_at) WHERE pending_to > pushed_seq;
CREATE TABLE push_jobs(
  subscription_id BIGINT NOT NULL,
  conversation_id TEXT NOT NULL,
  seq             BIGINT NOT NULL,
  payload         TEXT NOT NULL,
  attempts        INT NOT NULL DEFAULT 0,
  due_at          BIGINT NOT NULL,
  expires_at      BIGINT NOT NULL,
  leased_until    BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY(subscription_id, conversation_id, seq)
);
CREATE INDEX push_jobs_due ON push_jobs(due_at);
CREATE TABLE push_progress(
  id          INT PRIMARY KEY CHECK(id = 1),
  noted_up_to TEXT NOT NULL
);
CREATE FUNCTION push_subscriptions_end_with_session() RETURNS trigger AS $$
BEGIN
  DELETE FROM push_jobs WHERE subscription_id IN
    (SELECT id FROM push_subscriptions WHERE session_id = NEW.id);
  DELETE FROM push_subscriptions WHERE session_id = NEW.id;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER push_subscriptions_end_with_session AFTER UPDATE OF revoked_at ON sessions
FOR EACH ROW WHEN (NEW.revoked_at IS NOT NULL)
EXECUTE FUNCTION push_subscriptions_end_with_session();
)sql",
};

// Routines: the store's server-side functions. They are code, not schema: every start replaces
// them (CREATE OR REPLACE, under the migrations' lock) with this binary's text. A change of
// arguments or meaning gets a new name (…_v2), so that during a rolling upgrade the nodes of the
// older build keep calling the routine they were built for.
constexpr const char* kRoutines[] = {
    // The sequencer's commit (PostgresStore::append_messages): one call, one round trip, its own
    // transaction. It does what Store::append_messages promises, in this order:
    //   1. moves each log position (p_partitions, from p_from to p_to) or raises SQLSTATE PF001
    //      (fenced), which rolls everything back;
    //   2. locks the batch's conversations in id order (two writers never wait in a cycle, and
    //      a key is looked up after any other writer of its conversation is done) — unless the
    //      batch is one message with a log position, whose row did both already;
    //   3. for each message in turn: unless its key (conv, sender, client_msg_id) is stored —
    //      by an earlier batch or earlier in this one — the message takes the next seq of its
    //      conversation and is inserted with the id and time it came with ('new'), in one
    //      statement; else a stored key comes back as it is now ('stored'), and a message of no
    //      conversation is 'missing';
    //   4. with p_push_due_at, notes the new messages for push (push_catalog.hpp);
    //   5. unless p_synchronous, commits without waiting for the WAL flush (docs/operations.md,
    //      "Kafka message log": the log holds every record and the replay rewrites the same rows).
    // One row per message, in order: (outcome, then its columns in PostgresStore's read_message
    // order; only seq for a new one). A statement per message rather than one for the batch:
    // measured here, a batch-wide statement (CTEs over the arrays) cost 0.4 ms per call whatever
    // its size, this 0.13 ms and 0.09 ms per message, and at a sequencer's usual few messages
    // per poll the fixed cost is what counts. Each statement costs its executor start-up, so a
    // new message is one (measured with pgbench: ~10 % less CPU a call than three;
    // docs/performance.md). Generic plans: planning the statements anew on each call (the plan
    // cache's custom plans) cost more than running them.
    R"sql(
CREATE OR REPLACE FUNCTION parley_append_messages_v2(
    p_topic TEXT, p_partitions INT[], p_from BIGINT[], p_to BIGINT[],
    p_conv TEXT[], p_sender BIGINT[], p_client TEXT[], p_id TEXT[], p_body TEXT[],
    p_reply BIGINT[], p_ts BIGINT[], p_attachments TEXT[],
    p_noted_at BIGINT, p_push_due_at BIGINT, p_synchronous BOOLEAN)
RETURNS TABLE(o_outcome TEXT, o_seq BIGINT, o_id TEXT, o_sender BIGINT, o_username TEXT,
              o_body TEXT, o_reply BIGINT, o_client TEXT, o_created_at BIGINT,
              o_edited_at BIGINT, o_deleted INT, o_rev BIGINT, o_attachments TEXT)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  j INT;
  new_convs TEXT[] := '{}';
  new_seqs BIGINT[] := '{}';
  new_senders BIGINT[] := '{}';
BEGIN
  IF NOT p_synchronous THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  FOR j IN 1 .. coalesce(array_length(p_partitions, 1), 0) LOOP
    -- Moved only from where it is stored, or made only by a writer that found none (from -1):
    -- a writer ahead of a position PostgreSQL lost (an unflushed first commit) is fenced too.
    -- (_v1 made a missing position whatever p_from: a change of meaning, so a new name; _v1
    -- stays in the database for the nodes of older builds during a rolling upgrade.)
    UPDATE log_positions SET next_offset = p_to[j]
      WHERE topic = p_topic AND partition = p_partitions[j] AND next_offset = p_from[j];
    IF NOT FOUND AND p_from[j] = -1 THEN
      INSERT INTO log_positions(topic, partition, next_offset)
        VALUES(p_topic, p_partitions[j], p_to[j]) ON CONFLICT DO NOTHING;
    END IF;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'the log position of partition % moved', p_partitions[j]
        USING ERRCODE = 'PF001';
    END IF;
  END LOOP;
  -- A batch of one message from the log takes its conversation's lock with its UPDATE, and
  -- holding one conversation's lock closes no cycle: the lock statement is for batches of
  -- several, and for writers with no log position (embedded writers of several nodes on one
  -- database): the position's row serializes the log's writers of a conversation before the
  -- key is looked up, and nothing else does for them — without the wait here, the lookup's
  -- snapshot could miss the same key committed meanwhile, and the insert would fail on it.
  IF cardinality(p_conv) > 1 OR coalesce(cardinality(p_partitions), 0) = 0 THEN
    PERFORM 1 FROM conversations c WHERE c.id = ANY(p_conv) ORDER BY c.id FOR UPDATE;
  END IF;
  FOR j IN 1 .. coalesce(array_length(p_conv, 1), 0) LOOP
    -- The usual case, a new message, in one statement: its conversation's next seq, unless the
    -- key is stored already, and its row with that seq.
    WITH next AS (
      UPDATE conversations c SET last_seq = c.last_seq + 1
      WHERE c.id = p_conv[j] AND NOT EXISTS (
        SELECT 1 FROM messages m WHERE m.conversation_id = p_conv[j]
          AND m.sender_id = p_sender[j] AND m.client_msg_id = p_client[j])
      RETURNING c.last_seq)
    INSERT INTO messages(conversation_id, seq, id, sender_id, client_msg_id, body, reply_to,
                         created_at, attachments)
      SELECT p_conv[j], next.last_seq, p_id[j], p_sender[j], p_client[j], p_body[j], p_reply[j],
             p_ts[j], p_attachments[j] FROM next
      RETURNING seq INTO o_seq;
    IF FOUND THEN
      o_outcome := 'new';
      RETURN NEXT;  -- the outcome and the seq; the other columns are never set
      new_convs := new_convs || p_conv[j];
      new_seqs := new_seqs || o_seq;
      new_senders := new_senders || p_sender[j];
    ELSE
      RETURN QUERY SELECT 'stored', )sql" PARLEY_PG_MESSAGE_COLUMNS R"sql(
        FROM messages m JOIN users u ON u.id = m.sender_id
        WHERE m.conversation_id = p_conv[j] AND m.sender_id = p_sender[j]
          AND m.client_msg_id = p_client[j];
      IF NOT FOUND THEN
        o_outcome := 'missing';  -- o_seq is NULL: the INSERT returned nothing into it
        RETURN NEXT;
      END IF;
    END IF;
  END LOOP;
  -- Nobody subscribed to push (no VAPID or FCM set up, or no device yet): nothing to note, and
  -- the note's statement was a third of this call's time.
  IF p_push_due_at IS NOT NULL AND cardinality(new_convs) > 0
     AND EXISTS (SELECT 1 FROM push_subscriptions) THEN
    INSERT INTO push_state AS p(user_id, conversation_id, pending_from, pending_to,
                                pending_count, first_noted_at, due_at)
    SELECT m.user_id, n.conv, min(n.seq), max(n.seq), count(*), p_noted_at, p_push_due_at
    FROM unnest(new_convs, new_seqs, new_senders) AS n(conv, seq, sender)
    JOIN members m ON m.conversation_id = n.conv AND m.user_id <> n.sender
    WHERE EXISTS (SELECT 1 FROM push_subscriptions s WHERE s.user_id = m.user_id)
    GROUP BY m.user_id, n.conv
    )sql" PARLEY_PG_PUSH_BURST_GROWS R"sql(;
  END IF;
END $$;
)sql",
};

// Any fixed number: the advisory lock that makes concurrent migrations take turns.
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(727001)";

void run(pg::Connection& conn, const std::string& sql) {
  auto r = conn.exec_script(sql);
  if (!r.ok()) throw std::runtime_error("PostgreSQL migration failed: " + r.error());
}

}  // namespace

void migrate(pg::Connection& conn) {
  run(conn, "BEGIN");
  try {
    run(conn, kMigrationLock);
    run(conn, "CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, "
              "applied_at BIGINT NOT NULL)");
    auto r = conn.exec_script("SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (!r.ok()) throw std::runtime_error("PostgreSQL migration failed: " + r.error());
    const int current = static_cast<int>(r.i64(0, 0));
    const int newest = static_cast<int>(std::size(kMigrations));
    if (current > newest) {
      throw std::runtime_error("database schema version " + std::to_string(current) +
                               " is newer than this binary (" + std::to_string(newest) +
                               "): upgrade Parley");
    }
    for (int v = current + 1; v <= newest; ++v) {
      run(conn, kMigrations[v - 1]);
      run(conn, "INSERT INTO schema_migrations(version, applied_at) VALUES(" + std::to_string(v) +
                    ", (extract(epoch from now()) * 1000)::bigint)");
    }
    for (const char* routine : kRoutines) run(conn, routine);
    run(conn, "COMMIT");
  } catch (...) {
    conn.exec_script("ROLLBACK");
    throw;
  }
}

}  // namespace parley::postgres
