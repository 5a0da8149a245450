#pragma once
// PostgreSQL schema migrations: numbered, applied in order, each once, recorded in
// schema_migrations. The same data model as store/sqlite/migrations.cpp, in PostgreSQL's types.
#include "store/postgres/pg.hpp"

namespace parley::postgres {

// Brings the schema (in the connection's search_path) to this binary's version, in one
// transaction under an advisory lock: nodes starting at once apply each migration once. Then
// (re)creates the server-side routines this binary calls.
// Throws std::runtime_error on failure, or when the schema is newer than this binary.
void migrate(pg::Connection& conn);

}  // namespace parley::postgres
