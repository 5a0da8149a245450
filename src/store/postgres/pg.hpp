#pragma once
// A thin, owned wrapper over libpq for PostgresStore: connections, parameters, results.
//
//   pg::Connection conn(url);
//   auto r = conn.exec("SELECT id FROM users WHERE username = $1", {name});
//   if (!r.ok()) ...; if (r.rows()) id = r.i64(0, 0);
//
// Statements are prepared once per connection, keyed by the address of their SQL literal (the
// same trick as sqlite::Query): the hot paths pay for parsing and planning once. Parameters
// and results travel as text. Not thread-safe: one thread uses a connection at a time (the
// store's pool hands them out).

#include <libpq-fe.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/result.hpp"

namespace parley::pg {

// One statement parameter, as text (or NULL).
class Param {
 public:
  Param(std::nullptr_t) {}  // NOLINT: NULL
  Param(std::string_view text) : text_(text), null_(false) {}  // NOLINT
  Param(const std::string& text) : text_(text), null_(false) {}  // NOLINT
  Param(const char* text) : text_(text), null_(false) {}  // NOLINT
  Param(std::int64_t v) : text_(std::to_string(v)), null_(false) {}  // NOLINT
  Param(int v) : Param(std::int64_t{v}) {}  // NOLINT
  Param(std::optional<std::int64_t> v) {  // NOLINT
    if (v) *this = Param(*v);
  }

  const char* c_str() const { return null_ ? nullptr : text_.c_str(); }

 private:
  std::string text_;
  bool null_ = true;
};

class Result {
 public:
  Result() = default;
  explicit Result(PGresult* r) : r_(r, &PQclear) {}

  // The statement ran (a command, or a query with rows).
  bool ok() const;
  // SQLSTATE of a failure ("23505": unique violation), empty when none.
  std::string_view sqlstate() const;
  std::string error() const;
  bool unique_violation() const { return sqlstate() == "23505"; }

  int rows() const { return r_ ? PQntuples(r_.get()) : 0; }
  // Rows a command changed (UPDATE, DELETE, INSERT).
  std::int64_t affected() const;
  bool is_null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string text(int row, int col) const;
  std::int64_t i64(int row, int col) const;
  std::optional<std::int64_t> opt_i64(int row, int col) const;

 private:
  std::shared_ptr<PGresult> r_;
};

class Connection {
 public:
  // Throws std::runtime_error when it cannot connect (the message names the server, never a
  // password).
  explicit Connection(const std::string& url);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement with parameters $1, $2, … `sql` must be a string literal (or otherwise
  // outlive the connection): it is prepared on first use and remembered by its address.
  Result exec(const char* sql, std::initializer_list<Param> params = {});
  // Runs one or more statements without parameters (migrations, BEGIN, COMMIT).
  Result exec_script(const std::string& sql);
  // True when the server connection is gone (then the pool replaces the connection).
  bool broken() const { return PQstatus(conn_) != CONNECTION_OK; }

 private:
  PGconn* conn_ = nullptr;
  std::unordered_map<const char*, std::string> prepared_;  // SQL address → statement name
};

// Array parameters, in PostgreSQL's text form ("{…}"), for statements that take a whole batch
// at once ($1::text[], unnest). A null element is SQL NULL.
class ArrayParam {
 public:
  void add(std::string_view text);
  void add(std::int64_t v);
  void add(std::optional<std::int64_t> v);
  std::string str() const { return "{" + elements_ + "}"; }

 private:
  void separate();
  std::string elements_;
};

// The server and database of a URL, for messages: never its password.
std::string describe(const std::string& url);

// A failed statement: logged with what failed, and told to the client as `unavailable`.
::parley::Error storage_error(const Result& r, std::string_view what);

}  // namespace parley::pg
