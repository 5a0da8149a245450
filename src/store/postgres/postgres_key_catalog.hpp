#pragma once
// The KeyCatalog (store/key_catalog.hpp) of a cluster: two tables in the PostgreSQL database
// every node shares, through a connection of its own (reconnected when it breaks).

#include <memory>
#include <mutex>
#include <string>

#include "store/key_catalog.hpp"

namespace parley {

namespace pg {
class Connection;
}

class PostgresKeyCatalog final : public KeyCatalog {
 public:
  // Connects and creates the catalog's tables when missing. Throws std::runtime_error.
  explicit PostgresKeyCatalog(std::string url);
  ~PostgresKeyCatalog() override;

  Result<std::vector<WrappedKey>> keys(std::string_view purpose) override;
  Result<bool> add_key(const WrappedKey& key) override;
  Result<std::optional<std::string>> value(std::string_view name) override;
  Status set_value(std::string_view name, std::string_view value) override;

 private:
  // The connection, reconnected when the last one broke; nullptr when that fails.
  pg::Connection* connection();

  const std::string url_;
  std::mutex mutex_;
  std::unique_ptr<pg::Connection> conn_;  // guarded by mutex_
};

}  // namespace parley
