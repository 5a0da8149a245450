#pragma once
// The KeyCatalog (store/key_catalog.hpp) of an embedded deployment: two tables in the SQLite
// database file, through a connection of its own (so `parley keys` can use it while the server
// runs: SQLite's WAL lets both in, and every call is one short transaction).

#include <memory>
#include <mutex>
#include <string>

#include "store/key_catalog.hpp"

namespace parley {

namespace sqlite {
class Db;
}

class SqliteKeyCatalog final : public KeyCatalog {
 public:
  // Opens (creating) the database at path and the catalog's tables. Throws std::runtime_error.
  explicit SqliteKeyCatalog(const std::string& path);
  ~SqliteKeyCatalog() override;

  Result<std::vector<WrappedKey>> keys(std::string_view purpose) override;
  Result<bool> add_key(const WrappedKey& key) override;
  Result<std::optional<std::string>> value(std::string_view name) override;
  Status set_value(std::string_view name, std::string_view value) override;

 private:
  std::mutex mutex_;
  std::unique_ptr<sqlite::Db> db_;  // guarded by mutex_
};

}  // namespace parley
