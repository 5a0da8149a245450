#include "store/sqlite/sqlite_key_catalog.hpp"

#include "store/sqlite/db.hpp"
#include "store/sqlite/shared.hpp"

namespace parley {

// The tables are the catalog's own, apart from the store's numbered migrations: `parley keys`
// may create them before any server opened the database.
SqliteKeyCatalog::SqliteKeyCatalog(const std::string& path)
    : db_(std::make_unique<sqlite::Db>(path, false)) {
  sqlite::open_for_writing(*db_);
  db_->exec(R"sql(
CREATE TABLE IF NOT EXISTS wrapped_keys(
  purpose    TEXT NOT NULL,
  id         INTEGER NOT NULL,
  wrapped    TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY(purpose, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS key_jobs(
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
)sql");
}

SqliteKeyCatalog::~SqliteKeyCatalog() = default;

Result<std::vector<WrappedKey>> SqliteKeyCatalog::keys(std::string_view purpose) {
  std::lock_guard lock(mutex_);
  sqlite::Query q(*db_,
                  "SELECT id, wrapped, created_at FROM wrapped_keys WHERE purpose = ? ORDER BY id");
  q.bind(1, purpose);
  std::vector<WrappedKey> out;
  while (q.step()) {
    out.push_back(WrappedKey{static_cast<std::uint32_t>(q.i64(0)), std::string(purpose),
                             q.text(1), q.i64(2)});
  }
  if (q.failed()) return sqlite::storage_error(*db_, "keys");
  return out;
}

Result<bool> SqliteKeyCatalog::add_key(const WrappedKey& key) {
  std::lock_guard lock(mutex_);
  sqlite::Query q(*db_,
                  "INSERT INTO wrapped_keys(purpose, id, wrapped, created_at) VALUES(?, ?, ?, ?) "
                  "ON CONFLICT DO NOTHING");
  q.bind(1, key.purpose).bind(2, std::int64_t{key.id}).bind(3, key.wrapped).bind(4, key.created_at);
  q.step();
  if (q.failed()) return sqlite::storage_error(*db_, "add_key");
  return sqlite3_changes(db_->handle()) == 1;
}

Result<std::optional<std::string>> SqliteKeyCatalog::value(std::string_view name) {
  std::lock_guard lock(mutex_);
  sqlite::Query q(*db_, "SELECT value FROM key_jobs WHERE name = ?");
  q.bind(1, name);
  if (q.step()) return std::optional<std::string>(q.text(0));
  if (q.failed()) return sqlite::storage_error(*db_, "key_job");
  return std::optional<std::string>();
}

Status SqliteKeyCatalog::set_value(std::string_view name, std::string_view value) {
  std::lock_guard lock(mutex_);
  sqlite::Query q(*db_,
                  "INSERT INTO key_jobs(name, value) VALUES(?, ?) "
                  "ON CONFLICT(name) DO UPDATE SET value = excluded.value");
  q.bind(1, name).bind(2, value);
  q.step();
  if (q.failed()) return sqlite::storage_error(*db_, "set_key_job");
  return ok_status();
}

}  // namespace parley
