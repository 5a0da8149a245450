#pragma once
// A thin RAII layer over the SQLite C API: a connection (Db) that caches its prepared statements,
// and a Query that binds, steps and resets one of them. Not thread-safe: one Db belongs to one
// thread at a time (the writer's mutex or a reader lease in SqliteStore).

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace parley::sqlite {

class Db {
 public:
  Db(const std::string& path, bool read_only);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* handle() const { return db_; }
  // Runs one or more statements without results; throws std::runtime_error on failure
  // (start-up and migrations only).
  void exec(const char* sql);
  // Like exec, but returns false instead of throwing (transaction control on the message path).
  bool try_exec(const char* sql);
  // The cached prepared statement for `sql` (a string literal: its address is the key).
  sqlite3_stmt* statement(const char* sql);
  std::string last_error() const { return sqlite3_errmsg(db_); }

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<const char*, sqlite3_stmt*> statements_;
};

// One execution of a cached statement. Bind with bind(), advance with step(), read columns with
// the typed getters; the destructor resets the statement for its next use.
class Query {
 public:
  Query(Db& db, const char* sql) : db_(db), stmt_(db.statement(sql)) {}
  ~Query() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  // Text is bound without a copy (SQLITE_STATIC): it must outlive the Query, or the next bind
  // of that parameter. A temporary std::string therefore does not compile.
  Query& bind(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  Query& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Query& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Query& bind(int i, std::string&& v) = delete;
  Query& bind(int i, std::optional<std::int64_t> v) {
    if (v) return bind(i, *v);
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  Query& bind_null(int i) {
    sqlite3_bind_null(stmt_, i);
    return *this;
  }

  // true: a row is available; false: done. Errors set error() and return false.
  bool step();
  bool failed() const { return failed_; }
  int result_code() const { return rc_; }
  std::string error() const { return db_.last_error(); }

  std::int64_t i64(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::optional<std::int64_t> opt_i64(int col) const {
    return is_null(col) ? std::nullopt : std::optional(i64(col));
  }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }

 private:
  Db& db_;
  sqlite3_stmt* stmt_;
  bool failed_ = false;
  int rc_ = SQLITE_OK;
};

}  // namespace parley::sqlite
