// SqliteStore as a DeviceCatalog (store/device_catalog.hpp): the devices and one_time_prekeys
// tables.
#include "store/sqlite/reader_lease.hpp"
#include "store/sqlite/shared.hpp"

namespace parley {

using sqlite::Db;
using sqlite::Query;
using sqlite::storage_error;
using namespace chat;

namespace {

#define PARLEY_DEVICE_COLUMNS                                                         \
  "d.user_id, d.device, d.identity_key, d.dh_key, d.dh_signature, d.signed_prekey_id, " \
  "d.signed_prekey, d.signed_prekey_signature, d.created_at, "                        \
  "(SELECT count(*) FROM one_time_prekeys o WHERE o.user_id = d.user_id AND o.device = d.device)"

DeviceKeys read_device(const Query& q) {
  DeviceKeys d;
  d.user_id = q.i64(0);
  d.device = q.text(1);
  d.identity_key = q.text(2);
  d.dh_key = q.text(3);
  d.dh_signature = q.text(4);
  d.signed_prekey_id = q.i64(5);
  d.signed_prekey = q.text(6);
  d.signed_prekey_signature = q.text(7);
  d.created_at = q.i64(8);
  d.one_time_prekeys = q.i64(9);
  return d;
}

Result<std::int64_t> count_prekeys(Db& db, UserId user, std::string_view device) {
  Query q(db, "SELECT count(*) FROM one_time_prekeys WHERE user_id = ? AND device = ?");
  q.bind(1, user).bind(2, device);
  if (q.step()) return q.i64(0);
  return storage_error(db, "count_prekeys");
}

Status delete_prekeys(Db& db, UserId user, std::string_view device) {
  Query q(db, "DELETE FROM one_time_prekeys WHERE user_id = ? AND device = ?");
  q.bind(1, user).bind(2, device);
  q.step();
  if (q.failed()) return storage_error(db, "delete_prekeys");
  return ok_status();
}

}  // namespace

Result<bool> SqliteStore::put_device(const DeviceKeys& keys, int max_devices) {
  return sqlite::write_transaction(write_mutex_, *writer_, "put_device", [&]() -> Result<bool> {
    std::optional<std::string> old_identity;
    std::int64_t devices = 0;
    {
      Query q(*writer_, "SELECT device, identity_key FROM devices WHERE user_id = ?");
      q.bind(1, keys.user_id);
      while (q.step()) {
        ++devices;
        if (q.text(0) == keys.device) old_identity = q.text(1);
      }
      if (q.failed()) return storage_error(*writer_, "put_device");
    }
    if (!old_identity && devices >= max_devices) {
      return make_error(Errc::too_large,
                        "you have " + std::to_string(max_devices) + " devices: remove one first");
    }
    if (old_identity && *old_identity != keys.identity_key) {
      if (auto s = delete_prekeys(*writer_, keys.user_id, keys.device); !s) return s.error();
    }
    Query q(*writer_,
            "INSERT INTO devices(user_id, device, identity_key, dh_key, dh_signature, "
            "signed_prekey_id, signed_prekey, signed_prekey_signature, created_at) "
            "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(user_id, device) DO UPDATE SET "
            "identity_key = excluded.identity_key, dh_key = excluded.dh_key, "
            "dh_signature = excluded.dh_signature, signed_prekey_id = excluded.signed_prekey_id, "
            "signed_prekey = excluded.signed_prekey, "
            "signed_prekey_signature = excluded.signed_prekey_signature");
    q.bind(1, keys.user_id).bind(2, keys.device).bind(3, keys.identity_key).bind(4, keys.dh_key)
        .bind(5, keys.dh_signature).bind(6, keys.signed_prekey_id).bind(7, keys.signed_prekey)
        .bind(8, keys.signed_prekey_signature).bind(9, keys.created_at);
    q.step();
    if (q.failed()) return storage_error(*writer_, "put_device");
    return !old_identity.has_value();
  });
}

Result<std::int64_t> SqliteStore::add_one_time_prekeys(UserId user, std::string_view device,
                                                       const std::vector<OneTimePrekey>& keys,
                                                       std::int64_t max_stored) {
  return sqlite::write_transaction(write_mutex_, *writer_, "add_one_time_prekeys",
                                   [&]() -> Result<std::int64_t> {
    {
      Query q(*writer_, "SELECT 1 FROM devices WHERE user_id = ? AND device = ?");
      q.bind(1, user).bind(2, device);
      if (!q.step()) {
        if (q.failed()) return storage_error(*writer_, "add_one_time_prekeys");
        return make_error(Errc::not_found, "you have no device called " + std::string(device));
      }
    }
    for (const auto& key : keys) {
      Query q(*writer_, "INSERT OR IGNORE INTO one_time_prekeys(user_id, device, id, key) "
                        "VALUES(?, ?, ?, ?)");
      q.bind(1, user).bind(2, device).bind(3, key.id).bind(4, key.key);
      q.step();
      if (q.failed()) return storage_error(*writer_, "add_one_time_prekeys");
    }
    auto count = count_prekeys(*writer_, user, device);
    if (count && *count > max_stored) {  // rolled back by write_transaction
      return make_error(Errc::too_large, "a device keeps at most " + std::to_string(max_stored) +
                                             " one-time prekeys");
    }
    return count;
  });
}

Result<std::vector<DeviceKeys>> SqliteStore::devices_of(UserId user, bool claim) {
  auto read_devices = [&](Db& db) -> Result<std::vector<DeviceKeys>> {
    Query q(db, "SELECT " PARLEY_DEVICE_COLUMNS " FROM devices d WHERE d.user_id = ? "
                "ORDER BY d.created_at, d.device");
    q.bind(1, user);
    std::vector<DeviceKeys> out;
    while (q.step()) out.push_back(read_device(q));
    if (q.failed()) return storage_error(db, "devices_of");
    return out;
  };
  if (!claim) {
    auto lease = read();
    return read_devices(*lease);
  }
  return sqlite::write_transaction(write_mutex_, *writer_, "claim_prekeys",
                                   [&]() -> Result<std::vector<DeviceKeys>> {
    auto devices = read_devices(*writer_);
    if (!devices) return devices;
    for (auto& d : *devices) {
      Query q(*writer_, "DELETE FROM one_time_prekeys WHERE user_id = ?1 AND device = ?2 AND id = "
                        "(SELECT min(id) FROM one_time_prekeys WHERE user_id = ?1 AND device = ?2) "
                        "RETURNING id, key");
      q.bind(1, user).bind(2, d.device);
      if (q.step()) {
        d.one_time_prekey = OneTimePrekey{q.i64(0), q.text(1)};
        --d.one_time_prekeys;
      }
      if (q.failed()) return storage_error(*writer_, "claim_prekeys");
    }
    return devices;
  });
}

Status SqliteStore::remove_device(UserId user, std::string_view device) {
  return sqlite::write_transaction(write_mutex_, *writer_, "remove_device", [&]() -> Status {
    if (auto s = delete_prekeys(*writer_, user, device); !s) return s;
    Query q(*writer_, "DELETE FROM devices WHERE user_id = ? AND device = ?");
    q.bind(1, user).bind(2, device);
    q.step();
    if (q.failed()) return storage_error(*writer_, "remove_device");
    if (sqlite3_changes(writer_->handle()) == 0) {
      return make_error(Errc::not_found, "you have no device called " + std::string(device));
    }
    return ok_status();
  });
}

}  // namespace parley
