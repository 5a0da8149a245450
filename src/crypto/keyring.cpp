#include "crypto/keyring.hpp"

#include <sodium.h>

#include <array>
#include <cctype>
#include <cstring>
#include <charconv>
#include <mutex>
#include <stdexcept>

#include "auth/base64.hpp"

namespace parley::crypto {

namespace {

constexpr std::size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == kKeyBytes);
static_assert(Keyring::kRawOverhead == kNonceBytes + kTagBytes);

void ensure_sodium() {
  static const bool ready = sodium_init() >= 0;
  if (!ready) throw std::runtime_error("libsodium failed to initialise");
}

Error bad_ciphertext(std::string message) {
  return make_error(Errc::bad_ciphertext, std::move(message));
}

// A random nonce. Drawn from a per-thread pool that the system's CSPRNG refills 128 nonces at
// a time: every accepted message is sealed, and one getrandom() call each showed in profiles.
// (Nonces are public; only their uniqueness matters, and 192 random bits give it.)
void random_nonce(unsigned char* out) {
  thread_local std::array<unsigned char, kNonceBytes * 128> pool;
  thread_local std::size_t used = pool.size();
  if (used == pool.size()) {
    randombytes_buf(pool.data(), pool.size());
    used = 0;
  }
  std::memcpy(out, pool.data() + used, kNonceBytes);
  used += kNonceBytes;
}

// Appends nonce ‖ ciphertext ‖ tag of plaintext under key, with associated data ad.
void aead_seal_into(const SecretKey& key, std::string_view plaintext, std::string_view ad,
                    std::string& out) {
  ensure_sodium();
  const std::size_t at = out.size();
  out.resize(at + kNonceBytes + plaintext.size() + kTagBytes);
  auto* nonce = reinterpret_cast<unsigned char*>(out.data() + at);
  random_nonce(nonce);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      nonce + kNonceBytes, &written, reinterpret_cast<const unsigned char*>(plaintext.data()),
      plaintext.size(), reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr,
      nonce, key.data());
}

std::string aead_seal(const SecretKey& key, std::string_view plaintext, std::string_view ad) {
  std::string out;
  aead_seal_into(key, plaintext, ad, out);
  return out;
}

// Opens nonce ‖ ciphertext ‖ tag into out (sealed.size() - kNonceBytes - kTagBytes bytes).
bool aead_open_into(const SecretKey& key, std::string_view sealed, std::string_view ad, char* out) {
  if (sealed.size() < kNonceBytes + kTagBytes) return false;
  const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data());
  unsigned long long written = 0;
  return crypto_aead_xchacha20poly1305_ietf_decrypt(
             reinterpret_cast<unsigned char*>(out), &written, nullptr, nonce + kNonceBytes,
             sealed.size() - kNonceBytes, reinterpret_cast<const unsigned char*>(ad.data()),
             ad.size(), nonce, key.data()) == 0;
}

std::optional<std::string> aead_open(const SecretKey& key, std::string_view sealed,
                                     std::string_view ad) {
  if (sealed.size() < kNonceBytes + kTagBytes) return std::nullopt;
  std::string out(sealed.size() - kNonceBytes - kTagBytes, '\0');
  if (!aead_open_into(key, sealed, ad, out.data())) return std::nullopt;
  return out;
}

// The associated data of a value sealed under key `id`: the caller's context, then the id.
std::string with_key_id(std::string_view context, std::uint32_t id) {
  std::string ad(context);
  ad += "|k";
  ad += std::to_string(id);
  return ad;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::optional<std::string> hex_decode(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) {
    unsigned v = 0;
    const auto* first = hex.data() + 2 * i;
    const auto [end, ec] = std::from_chars(first, first + 2, v, 16);
    if (ec != std::errc() || end != first + 2) return std::nullopt;
    out[i] = static_cast<char>(v);
  }
  return out;
}

}  // namespace

SecretKey::SecretKey() = default;
SecretKey::~SecretKey() { sodium_memzero(bytes_.data(), bytes_.size()); }
SecretKey::SecretKey(const SecretKey& other) = default;
SecretKey& SecretKey::operator=(const SecretKey& other) = default;

SecretKey SecretKey::random() {
  ensure_sodium();
  SecretKey k;
  randombytes_buf(k.bytes_.data(), k.bytes_.size());
  return k;
}

std::optional<SecretKey> SecretKey::from_bytes(std::string_view bytes) {
  if (bytes.size() != kKeyBytes) return std::nullopt;
  SecretKey k;
  std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(k.bytes_.data()));
  return k;
}

std::string SecretKey::fingerprint() const {
  ensure_sodium();
  // Keyed BLAKE2b with a fixed public label as the message: a one-way function of the key.
  static constexpr std::string_view kLabel = "parley key fingerprint";
  unsigned char hash[8];
  crypto_generichash(hash, sizeof hash, reinterpret_cast<const unsigned char*>(kLabel.data()),
                     kLabel.size(), bytes_.data(), bytes_.size());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : hash) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

Result<SecretKey> parse_master_key(std::string_view text) {
  text = trim(text);
  std::optional<std::string> bytes;
  if (text.size() == 2 * kKeyBytes) {
    bytes = hex_decode(text);
  } else {
    bytes = auth::base64_decode(text);
  }
  if (!bytes) {
    return make_error(Errc::bad_request,
                      "the master key must be 32 bytes written as 64 hex digits or in base64 "
                      "(`openssl rand -base64 32` makes one)");
  }
  auto key = SecretKey::from_bytes(*bytes);
  sodium_memzero(bytes->data(), bytes->size());
  if (!key) {
    return make_error(Errc::bad_request, "the master key must be exactly 32 bytes, not " +
                                             std::to_string(bytes->size()));
  }
  return *key;
}

std::string format_master_key(const SecretKey& key) {
  return auth::base64_encode(
      std::string_view(reinterpret_cast<const char*>(key.data()), kKeyBytes));
}

std::string wrap_key(const SecretKey& master, std::uint32_t id, std::string_view purpose,
                     const SecretKey& key) {
  const std::string ad = "parley wrapped key|" + std::string(purpose) + "|" + std::to_string(id);
  return auth::base64url_encode(aead_seal(
      master, std::string_view(reinterpret_cast<const char*>(key.data()), kKeyBytes), ad));
}

Result<SecretKey> unwrap_key(const SecretKey& master, std::uint32_t id, std::string_view purpose,
                             std::string_view wrapped) {
  const std::string ad = "parley wrapped key|" + std::string(purpose) + "|" + std::to_string(id);
  auto raw = auth::base64url_decode(wrapped);
  if (!raw) return bad_ciphertext("wrapped key " + std::to_string(id) + " is not base64url");
  auto bytes = aead_open(master, *raw, ad);
  if (!bytes) {
    return bad_ciphertext("the master key does not open " + std::string(purpose) + " key " +
                          std::to_string(id));
  }
  auto key = SecretKey::from_bytes(*bytes);
  sodium_memzero(bytes->data(), bytes->size());
  if (!key) return bad_ciphertext("wrapped key " + std::to_string(id) + " has the wrong size");
  return *key;
}

void Keyring::add(std::uint32_t id, const SecretKey& key) {
  auto shared = std::make_shared<const SecretKey>(key);
  std::unique_lock lock(mutex_);
  keys_.try_emplace(id, std::move(shared));
  if (current_ == 0) current_ = id;
}

void Keyring::make_current(std::uint32_t id) {
  std::unique_lock lock(mutex_);
  if (!keys_.contains(id)) throw std::logic_error("Keyring::make_current: unknown key");
  current_ = id;
}

bool Keyring::has(std::uint32_t id) const {
  std::shared_lock lock(mutex_);
  return keys_.contains(id);
}

std::uint32_t Keyring::highest() const {
  std::shared_lock lock(mutex_);
  return keys_.empty() ? 0 : keys_.rbegin()->first;
}

bool Keyring::empty() const {
  std::shared_lock lock(mutex_);
  return keys_.empty();
}

std::uint32_t Keyring::current() const {
  std::shared_lock lock(mutex_);
  return current_;
}

std::vector<std::uint32_t> Keyring::ids() const {
  std::shared_lock lock(mutex_);
  std::vector<std::uint32_t> out;
  for (const auto& [id, key] : keys_) out.push_back(id);
  return out;
}

std::string Keyring::seal(std::string_view plaintext, std::string_view context) const {
  std::uint32_t id = 0;
  std::shared_ptr<const SecretKey> key;
  {
    std::shared_lock lock(mutex_);
    if (current_ == 0) throw std::logic_error("Keyring::seal without a data key");
    id = current_;
    key = keys_.at(id);
  }
  std::string out = "k" + std::to_string(id) + ".";
  out += auth::base64url_encode(aead_seal(*key, plaintext, with_key_id(context, id)));
  return out;
}

std::optional<std::uint32_t> Keyring::key_of(std::string_view sealed) {
  if (sealed.size() < 3 || sealed[0] != 'k') return std::nullopt;
  const auto dot = sealed.find('.');
  if (dot == std::string_view::npos || dot < 2) return std::nullopt;
  std::uint32_t id = 0;
  const auto [end, ec] = std::from_chars(sealed.data() + 1, sealed.data() + dot, id);
  if (ec != std::errc() || end != sealed.data() + dot || id == 0) return std::nullopt;
  return id;
}

std::shared_ptr<const SecretKey> Keyring::find(std::uint32_t id) const {
  std::shared_lock lock(mutex_);
  auto it = keys_.find(id);
  return it == keys_.end() ? nullptr : it->second;
}

std::optional<SecretKey> Keyring::derive(std::uint32_t id, std::string_view purpose) const {
  auto key = find(id);
  if (!key) return std::nullopt;
  ensure_sodium();
  const std::string message = "parley derived key|" + std::string(purpose);
  SecretKey out;
  crypto_generichash(out.data(), kKeyBytes, reinterpret_cast<const unsigned char*>(message.data()),
                     message.size(), key->data(), kKeyBytes);
  return out;
}

void Keyring::seal_raw(std::uint32_t id, std::string_view plaintext, std::string_view context,
                       std::string& out) const {
  auto key = find(id);
  if (!key) throw std::logic_error("Keyring::seal_raw: unknown key");
  aead_seal_into(*key, plaintext, with_key_id(context, id), out);
}

Status Keyring::open_raw(std::uint32_t id, std::string_view sealed, std::string_view context,
                         char* out) const {
  auto key = find(id);
  if (!key) return bad_ciphertext("sealed under key " + std::to_string(id) + ", which is unknown");
  if (!aead_open_into(*key, sealed, with_key_id(context, id), out)) {
    return bad_ciphertext("the sealed bytes do not open: tampered, truncated or foreign");
  }
  return ok_status();
}

Result<std::string> Keyring::open(std::string_view sealed, std::string_view context) const {
  const auto id = key_of(sealed);
  if (!id) return bad_ciphertext("not a sealed value");
  auto key = find(*id);
  if (!key) return bad_ciphertext("sealed under key " + std::to_string(*id) + ", which is unknown");
  auto raw = auth::base64url_decode(sealed.substr(sealed.find('.') + 1));
  if (!raw) return bad_ciphertext("the sealed value is not base64url");
  auto plain = aead_open(*key, *raw, with_key_id(context, *id));
  if (!plain) return bad_ciphertext("the sealed value does not open: tampered, truncated or foreign");
  return std::move(*plain);
}

}  // namespace parley::crypto
