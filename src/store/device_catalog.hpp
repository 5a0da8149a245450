#pragma once
// DeviceCatalog: the end-to-end encryption key directory — each user's devices with their public
// keys, and their one-time prekeys (docs/protocol.md §11.1). The store keeps what it is given;
// checking keys and signatures, limits aside, is service/key_directory.hpp's. No private key is
// ever here.
//
// Every method is blocking and thread-safe: call it from the blocking pool, never from a network
// shard. Implemented by SqliteStore and PostgresStore beside Store (the same database); both pass
// the contract suite in tests/contract/device_catalog_contract.cpp.

#include <cstdint>
#include <string_view>
#include <vector>

#include "chat/types.hpp"
#include "core/result.hpp"

namespace parley {

class DeviceCatalog {
 public:
  virtual ~DeviceCatalog() = default;

  // Stores the device's keys, replacing those of an existing device of the same name (which
  // keeps its created_at; a new identity_key also drops its one-time prekeys, which belonged to
  // the old identity). True when the device is new. Errc::too_large when it is new and the user
  // has max_devices already.
  virtual Result<bool> put_device(const chat::DeviceKeys& keys, int max_devices) = 0;
  // Adds one-time prekeys to the device, ignoring ids it has already (a retried upload changes
  // nothing), if it then has at most max_stored; returns how many it has. Errc::not_found: no
  // such device; Errc::too_large: past max_stored (nothing is added).
  virtual Result<std::int64_t> add_one_time_prekeys(chat::UserId user, std::string_view device,
                                                    const std::vector<chat::OneTimePrekey>& keys,
                                                    std::int64_t max_stored) = 0;
  // The user's devices, oldest first, each with its count of one-time prekeys. With claim, each
  // also comes with its oldest one-time prekey, removed in the same transaction so that no two
  // callers are handed the same one.
  virtual Result<std::vector<chat::DeviceKeys>> devices_of(chat::UserId user, bool claim) = 0;
  // Removes the device and its one-time prekeys. Errc::not_found when there is none.
  virtual Status remove_device(chat::UserId user, std::string_view device) = 0;
};

}  // namespace parley
