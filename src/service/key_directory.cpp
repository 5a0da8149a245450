#include "service/key_directory.hpp"

#include <sodium.h>

#include <string>

#include "auth/base64.hpp"
#include "chat/events.hpp"
#include "service/e2ee.hpp"

namespace parley {

using namespace chat;

namespace {

constexpr std::string_view kVersion = "parley-e2ee-v1";

Error bad_key(std::string_view field, std::string_view what) {
  return make_error(Errc::bad_request, "'" + std::string(field) + "' " + std::string(what));
}

Status check_key(std::string_view field, std::string_view value, std::size_t bytes) {
  if (!e2ee::is_base64url_of(value, bytes)) {
    return bad_key(field, "must be " + std::to_string(bytes) + " bytes in base64url");
  }
  return ok_status();
}

// Whether the Ed25519 key `identity` signed `statement` (all base64url but the statement).
bool signed_by(std::string_view identity, std::string_view statement, std::string_view signature) {
  auto key = auth::base64url_decode(identity);
  auto sig = auth::base64url_decode(signature);
  if (!key || !sig || key->size() != crypto_sign_PUBLICKEYBYTES || sig->size() != crypto_sign_BYTES) {
    return false;
  }
  return crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(sig->data()),
                                     reinterpret_cast<const unsigned char*>(statement.data()),
                                     statement.size(),
                                     reinterpret_cast<const unsigned char*>(key->data())) == 0;
}

Status check_device_name(std::string_view device) {
  if (!e2ee::is_valid_name(device)) {
    return make_error(Errc::bad_request, "a device name is 1 to 64 of A-Z a-z 0-9 . _ -");
  }
  return ok_status();
}

Status check_bundle(const DeviceKeys& k) {
  if (auto s = check_device_name(k.device); !s) return s;
  if (auto s = check_key("identity_key", k.identity_key, crypto_sign_PUBLICKEYBYTES); !s) return s;
  if (auto s = check_key("dh_key", k.dh_key, crypto_scalarmult_BYTES); !s) return s;
  if (auto s = check_key("dh_signature", k.dh_signature, crypto_sign_BYTES); !s) return s;
  if (k.signed_prekey_id < 1) return bad_key("signed_prekey.id", "must be an integer >= 1");
  if (auto s = check_key("signed_prekey.key", k.signed_prekey, crypto_scalarmult_BYTES); !s) return s;
  if (auto s = check_key("signed_prekey.signature", k.signed_prekey_signature, crypto_sign_BYTES); !s) {
    return s;
  }
  const std::string dh_statement = std::string(kVersion) + "|dh|" + k.dh_key;
  if (!signed_by(k.identity_key, dh_statement, k.dh_signature)) {
    return bad_key("dh_signature", "is not the identity key's signature of the dh_key");
  }
  const std::string spk_statement = std::string(kVersion) + "|spk|" +
                                    std::to_string(k.signed_prekey_id) + "|" + k.signed_prekey;
  if (!signed_by(k.identity_key, spk_statement, k.signed_prekey_signature)) {
    return bad_key("signed_prekey.signature", "is not the identity key's signature of the prekey");
  }
  return ok_status();
}

}  // namespace

KeyDirectory::KeyDirectory(Store& store, DeviceCatalog& catalog, Bus& bus, const Clock& clock,
                           KeyDirectoryLimits limits)
    : store_(store), catalog_(catalog), bus_(bus), clock_(clock), limits_(limits) {}

Result<PublishedDevice> KeyDirectory::put_device(const Caller& caller, DeviceKeys keys) {
  if (auto s = check_bundle(keys); !s) return s.error();
  keys.user_id = caller.user_id;
  keys.created_at = clock_.now_ms();
  auto created = catalog_.put_device(keys, limits_.max_devices);
  if (!created) return created.error();
  announce(caller);
  // Read back: a replaced device keeps its created_at and, with the same identity, its prekeys.
  auto devices = catalog_.devices_of(caller.user_id, false);
  if (!devices) return devices.error();
  for (auto& d : *devices) {
    if (d.device == keys.device) return PublishedDevice{std::move(d), *created};
  }
  return make_error(Errc::unavailable, "the device was removed meanwhile");
}

Result<std::int64_t> KeyDirectory::add_one_time_prekeys(const Caller& caller,
                                                        std::string_view device,
                                                        const std::vector<OneTimePrekey>& keys) {
  if (auto s = check_device_name(device); !s) return s.error();
  if (keys.empty() || keys.size() > limits_.max_prekeys_per_upload) {
    return make_error(Errc::bad_request, "'prekeys' must hold 1 to " +
                                             std::to_string(limits_.max_prekeys_per_upload) +
                                             " keys");
  }
  for (const auto& k : keys) {
    if (k.id < 1) return bad_key("prekeys[].id", "must be an integer >= 1");
    if (auto s = check_key("prekeys[].key", k.key, crypto_scalarmult_BYTES); !s) return s.error();
  }
  return catalog_.add_one_time_prekeys(caller.user_id, device, keys, limits_.max_stored_prekeys);
}

Result<std::vector<DeviceKeys>> KeyDirectory::own_devices(const Caller& caller) {
  return catalog_.devices_of(caller.user_id, false);
}

Status KeyDirectory::remove_device(const Caller& caller, std::string_view device) {
  if (auto s = check_device_name(device); !s) return s;
  if (auto s = catalog_.remove_device(caller.user_id, device); !s) return s;
  announce(caller);
  return ok_status();
}

Result<std::vector<DeviceKeys>> KeyDirectory::devices_of(const Caller&, std::string_view username,
                                                         bool claim) {
  auto user = store_.find_user(username);
  if (!user) {
    if (user.error().code == Errc::not_found) {
      return make_error(Errc::not_found, "no such user: " + std::string(username));
    }
    return user.error();
  }
  return catalog_.devices_of(user->id, claim);
}

void KeyDirectory::announce(const Caller& caller) {
  auto contacts = store_.contacts_of(caller.user_id);
  auto env = std::make_shared<Envelope>();
  if (contacts) env->recipients = std::move(*contacts);  // a store error: the owner still hears
  env->recipients.push_back(caller.user_id);
  env->event = DevicesEvent{caller.username};
  bus_.publish(std::move(env));
}

}  // namespace parley
