#include "store/postgres/postgres_key_catalog.hpp"

#include <stdexcept>

#include "core/logging.hpp"
#include "store/postgres/pg.hpp"

namespace parley {


// The tables are the catalog's own, apart from the store's numbered migrations: `parley keys`
// may create them before any server opened the database. Several nodes starting at once may
// all run this; IF NOT EXISTS can still race on the type catalog, so a unique violation here
// means another node created them first.
PostgresKeyCatalog::PostgresKeyCatalog(std::string url)
    : url_(std::move(url)), conn_(std::make_unique<pg::Connection>(url_)) {
  auto r = conn_->exec_script(R"sql(
CREATE TABLE IF NOT EXISTS wrapped_keys(
  purpose    TEXT NOT NULL,
  id         BIGINT NOT NULL,
  wrapped    TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY(purpose, id)
);
CREATE TABLE IF NOT EXISTS key_jobs(
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
)sql");
  if (!r.ok() && !r.unique_violation()) {
    throw std::runtime_error("cannot create the key tables in " + pg::describe(url_) + ": " +
                             r.error());
  }
}

PostgresKeyCatalog::~PostgresKeyCatalog() = default;

pg::Connection* PostgresKeyCatalog::connection() {
  if (conn_ && !conn_->broken()) return conn_.get();
  try {
    conn_ = std::make_unique<pg::Connection>(url_);
  } catch (const std::exception& e) {
    conn_.reset();
    log::warn("event=key_catalog_unavailable error=\"{}\"", e.what());
    return nullptr;
  }
  return conn_.get();
}

Result<std::vector<WrappedKey>> PostgresKeyCatalog::keys(std::string_view purpose) {
  std::lock_guard lock(mutex_);
  auto* c = connection();
  if (!c) return make_error(Errc::unavailable, "storage error");
  auto r = c->exec("SELECT id, wrapped, created_at FROM wrapped_keys WHERE purpose = $1 ORDER BY id",
                   {purpose});
  if (!r.ok()) return pg::storage_error(r, "keys");
  std::vector<WrappedKey> out;
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back(WrappedKey{static_cast<std::uint32_t>(r.i64(i, 0)), std::string(purpose),
                             r.text(i, 1), r.i64(i, 2)});
  }
  return out;
}

Result<bool> PostgresKeyCatalog::add_key(const WrappedKey& key) {
  std::lock_guard lock(mutex_);
  auto* c = connection();
  if (!c) return make_error(Errc::unavailable, "storage error");
  auto r = c->exec(
      "INSERT INTO wrapped_keys(purpose, id, wrapped, created_at) VALUES($1, $2, $3, $4) "
      "ON CONFLICT DO NOTHING",
      {key.purpose, std::int64_t{key.id}, key.wrapped, key.created_at});
  if (!r.ok()) return pg::storage_error(r, "add_key");
  return r.affected() == 1;
}

Result<std::optional<std::string>> PostgresKeyCatalog::value(std::string_view name) {
  std::lock_guard lock(mutex_);
  auto* c = connection();
  if (!c) return make_error(Errc::unavailable, "storage error");
  auto r = c->exec("SELECT value FROM key_jobs WHERE name = $1", {name});
  if (!r.ok()) return pg::storage_error(r, "key_job");
  if (r.rows() == 0) return std::optional<std::string>();
  return std::optional<std::string>(r.text(0, 0));
}

Status PostgresKeyCatalog::set_value(std::string_view name, std::string_view value) {
  std::lock_guard lock(mutex_);
  auto* c = connection();
  if (!c) return make_error(Errc::unavailable, "storage error");
  auto r = c->exec(
      "INSERT INTO key_jobs(name, value) VALUES($1, $2) "
      "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
      {name, value});
  if (!r.ok()) return pg::storage_error(r, "set_key_job");
  return ok_status();
}

}  // namespace parley
