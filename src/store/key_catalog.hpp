#pragma once
// KeyCatalog: where the wrapped keys live (crypto/keyring.hpp): the database every node of a
// deployment shares, but only wrapped — the master key that unwraps them never goes there.
// Keys are numbered per purpose ("data": encryption at rest) from 1; a key is never changed or
// removed once added. The catalog also keeps a few named values of the key jobs (how far the
// rewrap got).
//
// Implementations own a connection of their own to the store's database and create their tables
// when missing, so that `parley keys` works whether or not a server runs and before the first
// one ever did: store/sqlite/sqlite_key_catalog.hpp, store/postgres/postgres_key_catalog.hpp.
// Thread-safe (each serialises its calls); every call is [blocking].

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/time.hpp"

namespace parley {

struct WrappedKey {
  std::uint32_t id = 0;
  std::string purpose;
  std::string wrapped;  // crypto::wrap_key's text
  TimeMs created_at = 0;
};

class KeyCatalog {
 public:
  virtual ~KeyCatalog() = default;
  // Every key of `purpose`, by id.
  virtual Result<std::vector<WrappedKey>> keys(std::string_view purpose) = 0;
  // Adds a key; false (and nothing changed) when its (purpose, id) exists already: another node
  // or command added one first, and the caller reads the keys again.
  virtual Result<bool> add_key(const WrappedKey& key) = 0;
  virtual Result<std::optional<std::string>> value(std::string_view name) = 0;
  virtual Status set_value(std::string_view name, std::string_view value) = 0;
};

}  // namespace parley
