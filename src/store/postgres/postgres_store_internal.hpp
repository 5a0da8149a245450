#pragma once
// What PostgresStore's source files share (internal to store/postgres): the pooled connection a
// method leases, and the transaction wrapper its write methods run in.

#include "store/postgres/postgres_store.hpp"

namespace parley {

class PostgresStore::Lease {
 public:
  Lease(PostgresStore& store, std::unique_ptr<pg::Connection> conn)
      : store_(&store), conn_(std::move(conn)) {}
  Lease(Lease&& other) noexcept : store_(other.store_), conn_(std::move(other.conn_)) {}
  Lease& operator=(Lease&&) = delete;
  ~Lease() {
    if (conn_) store_->give_back(std::move(conn_));
  }
  pg::Connection& operator*() { return *conn_; }
  pg::Connection* operator->() { return conn_.get(); }

 private:
  PostgresStore* store_;
  std::unique_ptr<pg::Connection> conn_;
};

template <class F>
auto PostgresStore::transaction(std::string_view what, F&& f)
    -> decltype(f(std::declval<pg::Connection&>())) {
  auto conn = lease();
  if (!conn) return conn.error();
  pg::Connection& c = **conn;
  if (auto r = c.exec("BEGIN"); !r.ok()) return pg::storage_error(r, what);
  auto result = f(c);
  if (!result.ok()) {
    c.exec("ROLLBACK");
    return result;
  }
  if (auto r = c.exec("COMMIT"); !r.ok()) {
    c.exec("ROLLBACK");
    return pg::storage_error(r, what);
  }
  return result;
}

}  // namespace parley
