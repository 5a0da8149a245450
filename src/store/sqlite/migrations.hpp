#pragma once
// Versioned schema migrations for the SQLite store. Migration N runs once, in its own
// transaction, and records N in schema_migrations; never edit a migration that has shipped —
// add the next one.
#include "store/sqlite/db.hpp"

namespace parley::sqlite {
// Brings the database up to the newest schema. Throws std::runtime_error on failure.
void migrate(Db& db);
int schema_version(Db& db);
}  // namespace parley::sqlite
