#pragma once
// What the parley commands share about a Config beyond its fields: the error an operator must
// fix (exit code 2), and which database --store names.

#include <filesystem>
#include <stdexcept>
#include <string>

#include "core/config.hpp"

namespace parley::app {

// A configuration the operator must fix: exit code 2 with the reason.
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline bool is_postgres_url(const std::string& store) {
  return store.starts_with("postgres://") || store.starts_with("postgresql://");
}

// The SQLite database file of a non-postgres --store: sqlite:PATH, or DATA_DIR/parley.db.
inline std::string sqlite_path(const Config& c) {
  if (c.store.empty()) return (std::filesystem::path(c.data_dir) / "parley.db").string();
  if (c.store.starts_with("sqlite:")) return c.store.substr(7);
  throw ConfigError("--store must be sqlite:PATH or postgres://…, got " + c.store);
}

}  // namespace parley::app
