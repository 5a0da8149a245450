#include "store/sqlite/migrations.hpp"

#include <iterator>
#include <stdexcept>
#include <string>

namespace parley::sqlite {
namespace {

// Times are integer milliseconds since the Unix epoch (UTC). Ids of conversations, messages and
// files are UUIDv7 text. See docs/architecture.md §6, "Data model".
constexpr const char* kMigrations[] = {
    // 1: the data model of the foundation.
    R"sql(
CREATE TABLE users(
  id            INTEGER PRIMARY KEY,
  username      TEXT UNIQUE,
  email         TEXT UNIQUE,
  name          TEXT NOT NULL DEFAULT '',
  image         TEXT,
  provider      TEXT NOT NULL DEFAULT 'password',
  oauth_id      TEXT,
  password_hash TEXT,
  created_at    INTEGER NOT NULL,
  last_seen_at  INTEGER,
  UNIQUE(provider, oauth_id)
);
CREATE TABLE sessions(
  id           INTEGER PRIMARY KEY,
  user_id      INTEGER NOT NULL REFERENCES users(id),
  device       TEXT NOT NULL DEFAULT '',
  refresh_hash TEXT NOT NULL UNIQUE,
  created_at   INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL,
  revoked_at   INTEGER
);
CREATE INDEX sessions_revoked ON sessions(revoked_at) WHERE revoked_at IS NOT NULL;
CREATE TABLE conversations(
  id            TEXT PRIMARY KEY,
  kind          TEXT NOT NULL CHECK(kind IN ('direct', 'group')),
  title         TEXT NOT NULL DEFAULT '',
  creator_id    INTEGER NOT NULL REFERENCES users(id),
  passcode_hash TEXT,
  direct_key    TEXT UNIQUE,
  created_at    INTEGER NOT NULL,
  last_seq      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE members(
  conversation_id TEXT NOT NULL REFERENCES conversations(id),
  user_id         INTEGER NOT NULL REFERENCES users(id),
  role            TEXT NOT NULL CHECK(role IN ('owner', 'admin', 'member')),
  joined_at       INTEGER NOT NULL,
  joined_seq      INTEGER NOT NULL DEFAULT 0,
  delivered_seq   INTEGER NOT NULL DEFAULT 0,
  read_seq        INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(conversation_id, user_id)
) WITHOUT ROWID;
CREATE INDEX members_by_user ON members(user_id);
CREATE TABLE messages(
  conversation_id TEXT NOT NULL,
  seq             INTEGER NOT NULL,
  id              TEXT NOT NULL UNIQUE,
  sender_id       INTEGER NOT NULL,
  client_msg_id   TEXT NOT NULL,
  body            TEXT,
  attachments     TEXT NOT NULL DEFAULT '[]',
  reply_to        INTEGER,
  created_at      INTEGER NOT NULL,
  edited_at       INTEGER,
  deleted_at      INTEGER,
  PRIMARY KEY(conversation_id, seq),
  UNIQUE(conversation_id, sender_id, client_msg_id)
) WITHOUT ROWID;
CREATE TABLE files(
  id          TEXT PRIMARY KEY,
  owner_id    INTEGER NOT NULL REFERENCES users(id),
  name        TEXT NOT NULL,
  mime        TEXT NOT NULL,
  size        INTEGER NOT NULL,
  sha256      TEXT NOT NULL,
  storage_key TEXT NOT NULL,
  created_at  INTEGER NOT NULL
);
)sql",
    // 2: edits and deletes (rev), and departures for sync.
    R"sql(
ALTER TABLE messages ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_by_rev ON messages(conversation_id, rev) WHERE rev > 0;
ALTER TABLE conversations ADD COLUMN last_rev INTEGER NOT NULL DEFAULT 0;
CREATE TABLE departures(
  conversation_id TEXT NOT NULL,
  user_id         INTEGER NOT NULL,
  left_at         INTEGER NOT NULL,
  PRIMARY KEY(conversation_id, user_id)
) WITHOUT ROWID;
CREATE INDEX departures_by_user ON departures(user_id, left_at);
)sql",
    // 3: the cluster log's consumed positions (the same contract as PostgreSQL's; a single node
    // has no cluster log, so this stays empty there).
    R"sql(
CREATE TABLE log_positions(
  topic       TEXT NOT NULL,
  partition   INTEGER NOT NULL,
  next_offset INTEGER NOT NULL,
  PRIMARY KEY(topic, partition)
) WITHOUT ROWID;
)sql",
    // 4: the inbox (store/sqlite/inbox.hpp): how far its rows were moved into messages. The cluster
    // log's positions move to the inbox's file, into the transaction of their messages.
    R"sql(
CREATE TABLE inbox_moved(
  id   INTEGER PRIMARY KEY CHECK(id = 1),
  upto INTEGER NOT NULL
);
INSERT INTO inbox_moved(id, upto) VALUES(1, 0);
DROP TABLE log_positions;
)sql",
    // 5: the inbox is a journal of records (store/sqlite/journal.hpp), no longer a SQLite file.
    // The cluster log's positions ride in its records and the move writes them here, with their
    // messages.
    R"sql(
CREATE TABLE log_positions(
  topic       TEXT NOT NULL,
  partition   INTEGER NOT NULL,
  next_offset INTEGER NOT NULL,
  PRIMARY KEY(topic, partition)
) WITHOUT ROWID;
)sql",
    // 6: file sharing (store/file_catalog.hpp): the owner's files for the quota, and which
    // messages carry each file (a link per message, keyed as the message's dedupe key).
    R"sql(
CREATE INDEX files_by_owner ON files(owner_id);
CREATE INDEX files_by_created ON files(created_at);
CREATE TABLE file_links(
  file_id         TEXT NOT NULL,
  conversation_id TEXT NOT NULL,
  sender_id       INTEGER NOT NULL,
  client_msg_id   TEXT NOT NULL,
  PRIMARY KEY(file_id, conversation_id, sender_id, client_msg_id)
) WITHOUT ROWID;
)sql",
    // 7: end-to-end encryption (docs/protocol.md §11): which conversations take only envelopes,
    // and the key directory (store/device_catalog.hpp).
    R"sql(
ALTER TABLE conversations ADD COLUMN e2ee INTEGER NOT NULL DEFAULT 0;
CREATE TABLE devices(
  user_id                 INTEGER NOT NULL REFERENCES users(id),
  device                  TEXT NOT NULL,
  identity_key            TEXT NOT NULL,
  dh_key                  TEXT NOT NULL,
  dh_signature            TEXT NOT NULL,
  signed_prekey_id        INTEGER NOT NULL,
  signed_prekey           TEXT NOT NULL,
  signed_prekey_signature TEXT NOT NULL,
  created_at              INTEGER NOT NULL,
  PRIMARY KEY(user_id, device)
) WITHOUT ROWID;
CREATE TABLE one_time_prekeys(
  user_id INTEGER NOT NULL,
  device  TEXT NOT NULL,
  id      INTEGER NOT NULL,
  key     TEXT NOT NULL,
  PRIMARY KEY(user_id, device, id)
) WITHOUT ROWID;
)sql",
    // 8: accounts (store/account_catalog.hpp): how each login session signed in, its owner's
    // sessions found by user, the OpenID identities that sign users in, and second factors.
    R"sql(
ALTER TABLE sessions ADD COLUMN provider TEXT NOT NULL DEFAULT 'password';
CREATE INDEX sessions_by_user ON sessions(user_id);
CREATE TABLE identities(
  provider   TEXT NOT NULL,
  subject    TEXT NOT NULL,
  user_id    INTEGER NOT NULL REFERENCES users(id),
  created_at INTEGER NOT NULL,
  PRIMARY KEY(provider, subject)
);
CREATE TABLE second_factors(
  user_id    INTEGER PRIMARY KEY REFERENCES users(id),
  secret     TEXT NOT NULL,
  confirmed  INTEGER NOT NULL DEFAULT 0,
  last_step  INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE TABLE recovery_codes(
  user_id   INTEGER NOT NULL REFERENCES users(id),
  code_hash TEXT NOT NULL,
  used_at   INTEGER,
  PRIMARY KEY(user_id, code_hash)
);
)sql",
    // 9: push notifications (store/push_catalog.hpp): subscriptions (one per login session, gone
    // with it: the trigger), each member's push state per conversation, the push jobs keyed
    // by (subscription, conversation, seq), and the newest message noted (crash recovery).
    R"sql(
CREATE TABLE push_subscriptions(
  id         INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: jobs and sends name it
  user_id    INTEGER NOT NULL REFERENCES users(id),
  session_id INTEGER NOT NULL UNIQUE REFERENCES sessions(id),
  kind       TEXT NOT NULL CHECK(kind IN ('web_push', 'webhook', 'fcm')),
  endpoint   TEXT NOT NULL,
  device_key TEXT NOT NULL DEFAULT '',
  secret     TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  UNIQUE(kind, endpoint, device_key)
);
CREATE INDEX push_subscriptions_by_user ON push_subscriptions(user_id);
CREATE TABLE push_state(
  user_id         INTEGER NOT NULL,
  conversation_id TEXT NOT NULL,
  pushed_seq      INTEGER NOT NULL DEFAULT 0,
  pending_from    INTEGER NOT NULL DEFAULT 0,
  pending_to      INTEGER NOT NULL DEFAULT 0,
  pending_count   INTEGER NOT NULL DEFAULT 0,
  first_noted_at  INTEGER NOT NULL DEFAULT 0,
  due_at          INTEGER NOT NULL DEFAULT 0,
  leased_until    INTEGER NOT NULL DEFAULT 0,
  muted_until     INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(user_id, conversation_id)
) WITHOUT ROWID;
CREATE INDEX push_state_due ON push_state(due_at) WHERE pending_to > pushed_seq;
CREATE TABLE push_jobs(
  subscription_id INTEGER NOT NULL,
  conversation_id TEXT NOT NULL,
  seq             INTEGER NOT NULL,
  payload         TEXT NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  due_at          INTEGER NOT NULL,
  expires_at      INTEGER NOT NULL,
  leased_until    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(subscription_id, conversation_id, seq)
) WITHOUT ROWID;
CREATE INDEX push_jobs_due ON push_jobs(due_at);
CREATE TABLE push_progress(
  id          INTEGER PRIMARY KEY CHECK(id = 1),
  noted_up_to TEXT NOT NULL
);
CREATE TRIGGER push_subscriptions_end_with_session AFTER UPDATE OF revoked_at ON sessions
WHEN NEW.revoked_at IS NOT NULL BEGIN
  DELETE FROM push_jobs WHERE subscription_id IN
    (SELECT id FROM push_subscriptions WHERE session_id = NEW.id);
  DELETE FROM push_subscriptions WHERE session_id = NEW.id;
END;
)sql",
};

}  // namespace

int schema_version(Db& db) {
  Query q(db, "SELECT coalesce(max(version), 0) FROM schema_migrations");
  return q.step() ? static_cast<int>(q.i64(0)) : 0;
}

void migrate(Db& db) {
  db.exec("CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, "
          "applied_at INTEGER NOT NULL)");
  const int current = schema_version(db);
  const int newest = static_cast<int>(std::size(kMigrations));
  if (current > newest) {
    throw std::runtime_error("database schema version " + std::to_string(current) +
                             " is newer than this binary (" + std::to_string(newest) +
                             "): upgrade Parley");
  }
  for (int v = current + 1; v <= newest; ++v) {
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(kMigrations[v - 1]);
      db.exec(("INSERT INTO schema_migrations(version, applied_at) VALUES(" + std::to_string(v) +
               ", CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))")
                  .c_str());
      db.exec("COMMIT");
    } catch (...) {
      db.try_exec("ROLLBACK");
      throw;
    }
  }
}

}  // namespace parley::sqlite
