#pragma once
// KeyDirectory: the end-to-end encryption key directory's use cases (docs/protocol.md §11.1) —
// a user publishes their devices' public keys, anyone signed in fetches a user's devices to
// encrypt for them. Only the owner writes, and every write tells the owner's contacts with a
// `devices` event, so that their clients fetch the list again (a new device then gets the next
// sender keys; a removed one does not).
//
// The server checks what it can without trusting itself: key lengths, and that the identity key
// signed the X25519 key and the signed prekey — a broken client learns at once. Clients check
// the signatures again: the server is not trusted with keys (docs/security.md).
//
// Built on DeviceCatalog (the records), Store (users and contacts) and Bus (the event).
// Threads: every method is [blocking]; call from the blocking pool. Thread-safe.

#include <string_view>
#include <vector>

#include "bus/bus.hpp"
#include "chat/types.hpp"
#include "core/result.hpp"
#include "core/time.hpp"
#include "service/chat_service.hpp"
#include "store/device_catalog.hpp"
#include "store/store.hpp"

namespace parley {

struct KeyDirectoryLimits {
  int max_devices = 32;                // per user
  std::size_t max_prekeys_per_upload = 100;
  std::int64_t max_stored_prekeys = 1000;  // per device
};

struct PublishedDevice {
  chat::DeviceKeys device;
  bool created = false;  // false: an existing device's keys were replaced
};

class KeyDirectory {
 public:
  KeyDirectory(Store& store, DeviceCatalog& catalog, Bus& bus, const Clock& clock,
               KeyDirectoryLimits limits = {});

  // PUT /keys/devices/{device}: keys.device names it; user_id and created_at are filled here.
  Result<PublishedDevice> put_device(const Caller& caller, chat::DeviceKeys keys);
  // POST /keys/devices/{device}/one-time: how many the device has afterwards.
  Result<std::int64_t> add_one_time_prekeys(const Caller& caller, std::string_view device,
                                            const std::vector<chat::OneTimePrekey>& keys);
  // GET /keys/devices: the caller's devices with their counts of one-time prekeys.
  Result<std::vector<chat::DeviceKeys>> own_devices(const Caller& caller);
  // DELETE /keys/devices/{device}.
  Status remove_device(const Caller& caller, std::string_view device);
  // GET /keys/users/{username}: the user's devices; with claim, one one-time prekey each, taken
  // out of the directory.
  Result<std::vector<chat::DeviceKeys>> devices_of(const Caller& caller, std::string_view username,
                                                   bool claim);

 private:
  // The devices event, to the caller's sessions and everyone who shares a conversation with them.
  void announce(const Caller& caller);

  Store& store_;
  DeviceCatalog& catalog_;
  Bus& bus_;
  const Clock& clock_;
  const KeyDirectoryLimits limits_;
};

}  // namespace parley
