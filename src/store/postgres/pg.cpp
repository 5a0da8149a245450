#include "store/postgres/pg.hpp"

#include <charconv>
#include <stdexcept>
#include <vector>

#include "core/logging.hpp"

namespace parley::pg {

bool Result::ok() const {
  if (!r_) return false;
  const auto status = PQresultStatus(r_.get());
  return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

std::string_view Result::sqlstate() const {
  if (!r_) return {};
  const char* state = PQresultErrorField(r_.get(), PG_DIAG_SQLSTATE);
  return state ? std::string_view(state) : std::string_view();
}

std::string Result::error() const {
  if (!r_) return "no result (connection lost)";
  std::string e = PQresultErrorMessage(r_.get());
  while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
  return e;
}

std::int64_t Result::affected() const {
  if (!r_) return 0;
  const char* n = PQcmdTuples(r_.get());
  std::int64_t v = 0;
  std::from_chars(n, n + std::char_traits<char>::length(n), v);
  return v;
}

std::string Result::text(int row, int col) const {
  return std::string(PQgetvalue(r_.get(), row, col),
                     static_cast<std::size_t>(PQgetlength(r_.get(), row, col)));
}

std::int64_t Result::i64(int row, int col) const {
  const char* s = PQgetvalue(r_.get(), row, col);
  std::int64_t v = 0;
  std::from_chars(s, s + PQgetlength(r_.get(), row, col), v);
  return v;
}

std::optional<std::int64_t> Result::opt_i64(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return i64(row, col);
}

void ArrayParam::separate() {
  if (!elements_.empty()) elements_ += ',';
}

void ArrayParam::add(std::string_view text) {
  separate();
  elements_ += '"';
  for (const char c : text) {
    if (c == '"' || c == '\\') elements_ += '\\';
    elements_ += c;
  }
  elements_ += '"';
}

void ArrayParam::add(std::int64_t v) {
  separate();
  elements_ += std::to_string(v);
}

void ArrayParam::add(std::optional<std::int64_t> v) {
  if (v) return add(*v);
  separate();
  elements_ += "NULL";
}

std::string describe(const std::string& url) {
  PQconninfoOption* options = PQconninfoParse(url.c_str(), nullptr);
  if (!options) return "(unparsable PostgreSQL URL)";
  std::string host = "localhost", port = "5432", db;
  for (auto* o = options; o->keyword; ++o) {
    if (!o->val) continue;
    const std::string_view key = o->keyword;
    if (key == "host" || key == "hostaddr") host = o->val;
    if (key == "port") port = o->val;
    if (key == "dbname") db = o->val;
  }
  PQconninfoFree(options);
  return host + ":" + port + "/" + db;
}

Connection::Connection(const std::string& url) {
  conn_ = PQconnectdb(url.c_str());
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string error = PQerrorMessage(conn_);
    while (!error.empty() && error.back() == '\n') error.pop_back();
    PQfinish(conn_);
    conn_ = nullptr;
    throw std::runtime_error("cannot connect to PostgreSQL at " + describe(url) + ": " + error);
  }
  // Notices (e.g. "relation already exists, skipping") are not errors: keep them off stderr.
  PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
}

Connection::~Connection() {
  if (conn_) PQfinish(conn_);
}

Result Connection::exec(const char* sql, std::initializer_list<Param> params) {
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::string name = "s" + std::to_string(prepared_.size());
    Result prepared(PQprepare(conn_, name.c_str(), sql, static_cast<int>(params.size()), nullptr));
    if (!prepared.ok()) return prepared;
    it = prepared_.emplace(sql, std::move(name)).first;
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  return Result(PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(values.size()),
                               values.data(), nullptr, nullptr, 0));
}

Result Connection::exec_script(const std::string& sql) { return Result(PQexec(conn_, sql.c_str())); }

::parley::Error storage_error(const Result& r, std::string_view what) {
  ::parley::log::error("event=store_error op={} error=\"{}\"", what, r.error());
  return ::parley::make_error(::parley::Errc::unavailable, "storage error");
}

}  // namespace parley::pg
