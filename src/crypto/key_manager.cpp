#include "crypto/key_manager.hpp"

#include <algorithm>

#include "core/logging.hpp"

namespace parley::crypto {

KeyManager::KeyManager(KeyCatalog& catalog, SecretKey master, const Clock& clock,
                       std::chrono::milliseconds activation)
    : catalog_(catalog), master_(std::move(master)), clock_(clock), activation_(activation) {}

Status KeyManager::take_in(const std::vector<WrappedKey>& keys) {
  for (const auto& k : keys) {
    auto key = unwrap_key(master_, k.id, kDataKeyPurpose, k.wrapped);
    if (!key) {
      return make_error(Errc::bad_ciphertext,
                        "the master key (fingerprint " + master_.fingerprint() +
                            ") does not open data key " + std::to_string(k.id) +
                            " in the database: is it the master key this database was created "
                            "with?");
    }
    ring_.add(k.id, *key);
  }
  return ok_status();
}

Status KeyManager::load(bool create_first) {
  auto keys = catalog_.keys(kDataKeyPurpose);
  if (!keys) return keys.error();
  if (keys->empty() && create_first) {
    const auto key = SecretKey::random();
    auto added = catalog_.add_key(
        WrappedKey{1, std::string(kDataKeyPurpose), wrap_key(master_, 1, kDataKeyPurpose, key),
                   clock_.now_ms()});
    if (!added) return added.error();
    if (*added) log::info("event=data_key_created id=1 fingerprint={}", key.fingerprint());
    keys = catalog_.keys(kDataKeyPurpose);  // another node may have added key 1 first
    if (!keys) return keys.error();
  }
  if (auto s = take_in(*keys); !s) return s;
  choose_current(*keys);
  return ok_status();
}

void KeyManager::choose_current(const std::vector<WrappedKey>& keys) {
  // The newest key old enough for every node to know it; the oldest one if none is yet (a new
  // deployment's key 1).
  if (keys.empty()) return;
  std::uint32_t chosen = keys.front().id;
  const TimeMs now = clock_.now_ms();
  for (const auto& k : keys) {
    if (k.created_at + activation_.count() <= now) chosen = std::max(chosen, k.id);
  }
  if (chosen != ring_.current() && chosen > ring_.current()) {
    ring_.make_current(chosen);
    log::info("event=data_key_current id={}", chosen);
  }
}

Status KeyManager::refresh() {
  auto keys = catalog_.keys(kDataKeyPurpose);
  if (!keys) return keys.error();
  std::vector<WrappedKey> added;
  for (const auto& k : *keys) {
    if (!ring_.has(k.id)) added.push_back(k);
  }
  if (auto s = take_in(added); !s) return s;
  choose_current(*keys);
  return ok_status();
}

Result<std::uint32_t> KeyManager::rotate() {
  // Another node or command may add the same id first: then read again and go one higher.
  for (int attempt = 0; attempt < 10; ++attempt) {
    if (auto s = refresh(); !s) return s.error();
    const std::uint32_t id = ring_.highest() + 1;
    const auto key = SecretKey::random();
    auto added = catalog_.add_key(WrappedKey{id, std::string(kDataKeyPurpose),
                                             wrap_key(master_, id, kDataKeyPurpose, key),
                                             clock_.now_ms()});
    if (!added) return added.error();
    if (*added) {
      ring_.add(id, key);  // current at once only when it is the first
      log::info("event=data_key_rotated id={} fingerprint={}", id, key.fingerprint());
      return id;
    }
  }
  return make_error(Errc::conflict, "could not add a data key: others kept adding one first");
}

Result<std::vector<WrappedKey>> KeyManager::stored() const { return catalog_.keys(kDataKeyPurpose); }

}  // namespace parley::crypto
