#pragma once
// KeyManager: the data keys of a deployment, kept in its KeyCatalog wrapped by the master key
// (crypto/keyring.hpp), unwrapped into a Keyring. The server loads them at start (creating key 1
// on the first start), picks up the keys `parley keys rotate` adds while it runs (refresh, from
// housekeeping), and `parley keys` lists and adds them.
//
// A new key opens at once but seals only once it is `activation` old: by then every node has
// refreshed and knows it (the relay between nodes is sealed too, and a node must open what
// another sealed). Until then the previous key stays current.
//
// Threads: any; load, refresh and rotate are [blocking] (they read the catalog) and may run
// while other threads seal and open through data_keys().

#include <chrono>
#include <cstdint>
#include <vector>

#include "core/result.hpp"
#include "core/time.hpp"
#include "crypto/keyring.hpp"
#include "store/key_catalog.hpp"

namespace parley::crypto {

inline constexpr std::string_view kDataKeyPurpose = "data";

class KeyManager {
 public:
  // activation: how old a new key must be before it seals (more than the nodes' refresh period).
  KeyManager(KeyCatalog& catalog, SecretKey master, const Clock& clock,
             std::chrono::milliseconds activation);

  // Unwraps every data key into the ring. With none stored: creates key 1 when create_first,
  // else leaves the ring empty. Errc::bad_ciphertext when the master key does not open them (a
  // wrong master key: the server must not start), Errc::unavailable when the catalog is down.
  Status load(bool create_first);
  // Takes in the keys added since the last load or refresh, and makes current the newest one
  // old enough.
  Status refresh();
  // Adds a new key, one above the highest, and returns its id: it opens here at once and on
  // every other node at its next refresh, and seals from `activation` on.
  Result<std::uint32_t> rotate();
  // The stored keys, by id (for `parley keys status`).
  Result<std::vector<WrappedKey>> stored() const;

  const Keyring& data_keys() const { return ring_; }
  const SecretKey& master() const { return master_; }

 private:
  Status take_in(const std::vector<WrappedKey>& keys);
  void choose_current(const std::vector<WrappedKey>& keys);

  KeyCatalog& catalog_;
  const SecretKey master_;
  const Clock& clock_;
  const std::chrono::milliseconds activation_;
  Keyring ring_;
};

}  // namespace parley::crypto
