#pragma once
// The secrets a node reads before it serves, and the `parley keys` command that manages the data
// keys (docs/security.md, "Key management"):
//   - the master key: --master-key-file, else PARLEY_MASTER_KEY, else (embedded default only)
//     DATA_DIR/master.key, created 0600 on first start. A postgres:// store (a cluster) must be
//     given one explicitly: every node needs the same.
//   - the token-signing secret: --token-secret, else DATA_DIR/token.key, created on first start;
//     it verifies access tokens without a kid. Tokens are signed with keys derived from the data
//     keys (DataKeySigningKeys), so that they rotate with `parley keys rotate`.
//   - the key catalog in the --store database (store/key_catalog.hpp).
// Called on the main thread at start-up, and by `parley keys`.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "auth/tokens.hpp"
#include "core/config.hpp"
#include "crypto/keyring.hpp"
#include "push/web_push.hpp"
#include "store/key_catalog.hpp"

namespace parley::app {

// Throws ConfigError (app/config_error.hpp) for a missing, unreadable or malformed key.
crypto::SecretKey load_master_key(const Config& c);
std::string load_token_secret(const Config& c);
// The VAPID key of Web Push (push/web_push.hpp): --vapid-key-file, else (embedded default only)
// DATA_DIR/vapid.pem, created 0600 on first start. A postgres:// store (a cluster) without the
// file has none, and Web Push is off: every node must subscribe browsers with the same key.
// Throws ConfigError for a file that is not a P-256 key.
std::optional<push::VapidKey> load_vapid_key(const Config& c);
// Throws std::runtime_error when the database cannot be opened.
std::unique_ptr<KeyCatalog> open_key_catalog(const Config& c);
// How old a new data key must be before it seals: several --key-refresh-ms, so that every node
// has it by then (crypto/key_manager.hpp).
std::chrono::milliseconds key_activation(const Config& c);

// The access-token signing keys (auth/tokens.hpp), one per data key: kid "k<id>", the secret
// derived from data key <id>. Signs with the current data key's; verifies with any the ring has.
// Thread-safe (the Keyring is).
class DataKeySigningKeys final : public auth::SigningKeys {
 public:
  explicit DataKeySigningKeys(const crypto::Keyring& keys) : keys_(keys) {}
  Key current() const override;
  std::optional<std::string> find(std::string_view kid) const override;

 private:
  const crypto::Keyring& keys_;
};

enum class KeysAction { status, rotate };
// `parley keys status|rotate`: prints what it did to stdout; returns the exit code.
int run_keys_command(const Config& c, KeysAction action);

}  // namespace parley::app
