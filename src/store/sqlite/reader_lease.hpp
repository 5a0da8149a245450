#pragma once
// SqliteStore's lease of one read connection (internal to store/sqlite): given back to the pool
// when it goes out of scope. Shared by the files that implement SqliteStore.

#include <memory>

#include "store/sqlite/db.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace parley {

class SqliteStore::ReaderLease {
 public:
  ReaderLease(SqliteStore& store, std::unique_ptr<sqlite::Db> db) : store_(store), db_(std::move(db)) {}
  ~ReaderLease() {
    {
      std::lock_guard lock(store_.readers_mutex_);
      store_.readers_.push_back(std::move(db_));
    }
    store_.reader_free_.notify_one();
  }
  ReaderLease(const ReaderLease&) = delete;
  ReaderLease& operator=(const ReaderLease&) = delete;
  sqlite::Db& operator*() { return *db_; }

 private:
  SqliteStore& store_;
  std::unique_ptr<sqlite::Db> db_;
};

}  // namespace parley
