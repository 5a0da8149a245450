#pragma once
// Web Push on OpenSSL: the message encryption of RFC 8291 (aes128gcm, RFC 8188) and the VAPID
// authorization of RFC 8292, as push/web_push_sender.hpp sends them.
//
//   auto to = push::Receiver::from({sub.p256dh, sub.auth});            // checked once
//   auto body = push::encrypt(payload, *to);                            // the request body
//   auto vapid = push::VapidKey::generate();                           // kept in the data dir
//   auto header = vapid->authorization("https://push.example.net", "mailto:ops@example.com",
//                                      now_s + 12 * 3600);            // Authorization: …
//
// Threads: free functions and const methods, callable from any thread.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace parley::push {

// A browser's subscription keys (PushSubscription.getKey), raw bytes: p256dh is the
// uncompressed P-256 point (65 bytes), auth the 16-byte secret.
struct SubscriptionKeys {
  std::string p256dh;
  std::string auth;
};

// Fixed inputs instead of random ones, for the RFC's test vector.
struct EncryptFixture {
  std::string salt;         // 16 bytes
  std::string private_key;  // the sender's ephemeral P-256 key pair: private, 32 bytes,
  std::string public_key;   // and public, 65 bytes uncompressed
};

// A subscription's keys read and checked once (the point is on the curve): what encrypt() needs
// of them. Checking and importing a point cost about as much as the encryption itself, so a
// sender keeps these per subscription. A cheap handle: copies share the key.
class Receiver {
 public:
  // bad_request for keys of the wrong size or a point not on P-256.
  static Result<Receiver> from(const SubscriptionKeys& keys);

 private:
  struct Key;
  explicit Receiver(std::shared_ptr<const Key> key) : key_(std::move(key)) {}
  std::shared_ptr<const Key> key_;
  friend Result<std::string> encrypt(std::string_view, const Receiver&,
                                     const std::optional<EncryptFixture>&);
};

// The aes128gcm body (RFC 8291 §4): salt, record size, the sender's ephemeral public key (a new
// one per message, as the RFC requires), and one record holding `plaintext` padded with the
// last-record delimiter. At most 3993 bytes of plaintext (one 4096-byte record): too_large past
// the limit.
Result<std::string> encrypt(std::string_view plaintext, const Receiver& to,
                            const std::optional<EncryptFixture>& fixture = std::nullopt);
// The same for keys not read yet (Receiver::from's errors too).
Result<std::string> encrypt(std::string_view plaintext, const SubscriptionKeys& keys,
                            const std::optional<EncryptFixture>& fixture = std::nullopt);

inline constexpr std::size_t kMaxPlaintext = 4096 - 86 - 17;  // record size − header − tag − delimiter

// The application server's key pair (RFC 8292): ES256 over P-256.
class VapidKey {
 public:
  static Result<VapidKey> generate();
  // The PKCS#8 PEM that to_pem() wrote.
  static Result<VapidKey> from_pem(std::string_view pem);
  VapidKey(VapidKey&&) noexcept;
  VapidKey& operator=(VapidKey&&) noexcept;
  ~VapidKey();

  std::string to_pem() const;
  // The uncompressed public key, 65 bytes: what browsers subscribe with (applicationServerKey,
  // base64url) and the `k` of the header.
  std::string public_key() const;
  // `vapid t=<ES256 JWT {aud, exp, sub}>, k=<public key>`: aud is the push endpoint's origin
  // (scheme://host[:port]), exp seconds since the epoch (at most 24 h ahead), sub a mailto: or
  // https: URL.
  Result<std::string> authorization(std::string_view audience, std::string_view subject,
                                    std::int64_t expires_at_s) const;

 private:
  struct Key;
  explicit VapidKey(std::unique_ptr<Key> key);
  std::unique_ptr<Key> key_;
};

// The origin of a push endpoint URL ("https://fcm.googleapis.com/wp/…" → "https://fcm.googleapis.com"),
// for the VAPID audience; nullopt for a URL that is not http(s).
std::optional<std::string> endpoint_origin(std::string_view endpoint);

}  // namespace parley::push
