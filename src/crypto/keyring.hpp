#pragma once
// Keys for encryption at rest (docs/security.md, "Key management").
//
// The master key (32 bytes) comes from outside the database — a file or an environment variable,
// read by app/node.cpp — and is used for one thing: wrapping and unwrapping data keys. Data keys
// (32 bytes, XChaCha20-Poly1305-IETF) are made by `parley keys rotate` or on first start, kept in
// the database only wrapped (store/key_catalog.hpp), and numbered 1, 2, 3…: the current one seals
// everything new; every other one still opens what it sealed. Which one is current is the
// KeyManager's choice (crypto/key_manager.hpp): a new key only once every node knows it.
//
// A sealed value is text, so that every format that carries a message (the journal, Kafka's
// JSON, SQL text columns, the Redis relay) carries it unchanged:
//     k<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>
// The associated data is the caller's context (which field of which row) followed by the key id,
// so a ciphertext moved to another row, field or key number does not open.
//
// Threads: seal, open and the getters from any thread; add from any thread (a node learns of a
// rotation while it serves). Key material is zeroed when it is no longer needed.

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace parley::crypto {

inline constexpr std::size_t kKeyBytes = 32;

// 32 secret bytes, zeroed when destroyed.
class SecretKey {
 public:
  SecretKey();  // zeros
  ~SecretKey();
  SecretKey(const SecretKey& other);
  SecretKey& operator=(const SecretKey& other);

  static SecretKey random();
  // Exactly kKeyBytes bytes, else nullopt.
  static std::optional<SecretKey> from_bytes(std::string_view bytes);

  const unsigned char* data() const { return bytes_.data(); }
  unsigned char* data() { return bytes_.data(); }
  // A short public name for logs and `parley keys status`: the first 8 bytes of a keyed hash,
  // hex. Says which key is in use without revealing anything of it.
  std::string fingerprint() const;

 private:
  std::array<unsigned char, kKeyBytes> bytes_{};
};

// The master key in its configured text form: 64 hex digits, or 32 bytes in standard base64
// (44 characters with padding); surrounding whitespace is ignored. Errc::bad_request with what
// is wrong (never the text itself).
Result<SecretKey> parse_master_key(std::string_view text);
// The text form written into a new master key file (base64, one line).
std::string format_master_key(const SecretKey& key);

// Wrapping: a data key sealed under the master key, bound to its id and purpose. Text, for the
// key catalog. unwrap fails (Errc::bad_ciphertext) for a different master key.
std::string wrap_key(const SecretKey& master, std::uint32_t id, std::string_view purpose,
                     const SecretKey& key);
Result<SecretKey> unwrap_key(const SecretKey& master, std::uint32_t id, std::string_view purpose,
                             std::string_view wrapped);

class Keyring {
 public:
  Keyring() = default;
  Keyring(const Keyring&) = delete;
  Keyring& operator=(const Keyring&) = delete;

  // Adds data key `id` (ignored when known): it opens from now on. The first key added becomes
  // current.
  void add(std::uint32_t id, const SecretKey& key);
  // Seals with key `id` (one that was added) from now on.
  void make_current(std::uint32_t id);
  bool empty() const;
  bool has(std::uint32_t id) const;
  std::uint32_t current() const;  // 0 when empty
  std::uint32_t highest() const;  // 0 when empty
  std::vector<std::uint32_t> ids() const;

  // Seals under the current key (which must exist). Context: what the value is and where it
  // belongs; the same context must be given to open it.
  std::string seal(std::string_view plaintext, std::string_view context) const;
  // Errc::bad_ciphertext: not a sealed value, a key this ring does not have, tampered, truncated
  // or sealed for another context.
  Result<std::string> open(std::string_view sealed, std::string_view context) const;

  // The key id a sealed value names, without opening it; nullopt when it is not one.
  static std::optional<std::uint32_t> key_of(std::string_view sealed);

  // The binary form, for values too large to carry as text (file contents,
  // crypto/sealed_blob_store.hpp): nonce ‖ ciphertext ‖ tag, kRawOverhead bytes longer than the
  // plaintext, under key `id`, which the caller records beside it; the associated data follows
  // the same rule as seal()'s. seal_raw appends to out; std::logic_error for a key not added.
  static constexpr std::size_t kRawOverhead = 40;

  // A key for another use, derived from data key `id` (keyed BLAKE2b of the purpose), so that
  // it rotates with the data keys: the access-token signing keys (app/keys.hpp). nullopt when
  // the ring lacks `id`.
  std::optional<SecretKey> derive(std::uint32_t id, std::string_view purpose) const;
  void seal_raw(std::uint32_t id, std::string_view plaintext, std::string_view context,
                std::string& out) const;
  // Opens into `out`, which holds sealed.size() - kRawOverhead bytes (no copy: file downloads
  // open a megabyte at a time). Errc::bad_ciphertext as open().
  Status open_raw(std::uint32_t id, std::string_view sealed, std::string_view context,
                  char* out) const;

 private:
  std::shared_ptr<const SecretKey> find(std::uint32_t id) const;  // null when unknown

  mutable std::shared_mutex mutex_;
  std::map<std::uint32_t, std::shared_ptr<const SecretKey>> keys_;  // guarded by mutex_
  std::uint32_t current_ = 0;                                       // guarded by mutex_
};

}  // namespace parley::crypto
