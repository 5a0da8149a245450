#include "push/web_push.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <boost/json.hpp>

#include "auth/base64.hpp"
#include "push/pkey.hpp"

namespace parley::push {

namespace {

constexpr std::uint32_t kRecordSize = 4096;
constexpr std::size_t kPublicKeySize = 65;

struct CtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, CtxFree>;

const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

Error bad(std::string why) { return make_error(Errc::bad_request, std::move(why)); }

// A P-256 key from raw parts: the public point alone, or with its private scalar.
Pkey p256_key(std::string_view public_key, std::string_view private_key = {}) {
  OSSL_PARAM_BLD* build = OSSL_PARAM_BLD_new();
  BIGNUM* priv = private_key.empty() ? nullptr : BN_bin2bn(bytes(private_key), static_cast<int>(private_key.size()), nullptr);
  Pkey out;
  if (build && OSSL_PARAM_BLD_push_utf8_string(build, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
      OSSL_PARAM_BLD_push_octet_string(build, OSSL_PKEY_PARAM_PUB_KEY, public_key.data(), public_key.size()) == 1 &&
      (!priv || OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_PRIV_KEY, priv) == 1)) {
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(build);
    PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    EVP_PKEY* key = nullptr;
    if (params && ctx && EVP_PKEY_fromdata_init(ctx.get()) == 1 &&
        EVP_PKEY_fromdata(ctx.get(), &key, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) == 1) {
      out.reset(key);
    }
    OSSL_PARAM_free(params);
  }
  BN_clear_free(priv);
  OSSL_PARAM_BLD_free(build);
  return out;
}

// The point is on the curve (RFC 8291 §3.1: a receiver's key is checked before use).
bool valid_public(EVP_PKEY* key) {
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  return ctx && EVP_PKEY_public_check(ctx.get()) == 1;
}

std::string encoded_public(EVP_PKEY* key) {
  std::string out(kPublicKeySize, '\0');
  std::size_t length = 0;
  if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                      reinterpret_cast<unsigned char*>(out.data()), out.size(), &length) != 1 ||
      length != kPublicKeySize) {
    return {};
  }
  return out;
}

Pkey generate_p256() { return Pkey(EVP_EC_gen("P-256")); }

// An ephemeral key: generated from a template key's parameters, which skips rebuilding the
// curve's group each time (a third of EVP_EC_gen's cost).
Pkey ephemeral_p256() {
  static const Pkey kTemplate = generate_p256();
  if (!kTemplate) return {};
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, kTemplate.get(), nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &key) != 1) return {};
  return Pkey(key);
}

std::string ecdh(EVP_PKEY* mine, EVP_PKEY* theirs) {
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, mine, nullptr));
  std::size_t length = 0;
  // The peer's point was checked when it was read (Receiver::from): not again per message.
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer_ex(ctx.get(), theirs, 0) != 1 ||
      EVP_PKEY_derive(ctx.get(), nullptr, &length) != 1) {
    return {};
  }
  std::string secret(length, '\0');
  if (EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(secret.data()), &length) != 1) return {};
  secret.resize(length);
  return secret;
}

// HKDF-SHA-256 (RFC 5869), extract then expand.
std::string hkdf(std::string_view salt, std::string_view ikm, std::string_view info, std::size_t length) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = kdf ? EVP_KDF_CTX_new(kdf) : nullptr;
  EVP_KDF_free(kdf);
  if (!ctx) return {};
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(ikm.data()), ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size()),
      OSSL_PARAM_construct_end()};
  std::string out(length, '\0');
  const bool ok = EVP_KDF_derive(ctx, reinterpret_cast<unsigned char*>(out.data()), length, params) == 1;
  EVP_KDF_CTX_free(ctx);
  return ok ? out : std::string();
}

std::string aes128gcm_seal(std::string_view key, std::string_view nonce, std::string_view plain) {
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  std::string out(plain.size() + 16, '\0');
  int n = 0;
  int tail = 0;
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  const bool ok = c && EVP_EncryptInit_ex2(c, EVP_aes_128_gcm(), bytes(key), bytes(nonce), nullptr) == 1 &&
                  EVP_EncryptUpdate(c, o, &n, bytes(plain), static_cast<int>(plain.size())) == 1 &&
                  EVP_EncryptFinal_ex(c, o + n, &tail) == 1 &&
                  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, o + plain.size()) == 1;
  EVP_CIPHER_CTX_free(c);
  return ok ? out : std::string();
}

// JOSE's ES256 signature, r || s of 32 bytes each, from OpenSSL's DER.
std::string jose_signature(std::string_view der) {
  const unsigned char* p = bytes(der);
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  if (!sig) return {};
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  std::string out(64, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  const bool ok = BN_bn2binpad(r, o, 32) == 32 && BN_bn2binpad(s, o + 32, 32) == 32;
  ECDSA_SIG_free(sig);
  return ok ? out : std::string();
}

}  // namespace

struct Receiver::Key {
  SubscriptionKeys keys;
  Pkey point;
};

Result<Receiver> Receiver::from(const SubscriptionKeys& keys) {
  if (keys.p256dh.size() != kPublicKeySize || keys.p256dh[0] != '\x04') {
    return bad("the subscription's p256dh is not an uncompressed P-256 point (65 bytes)");
  }
  if (keys.auth.size() != 16) return bad("the subscription's auth secret is not 16 bytes");
  Pkey point = p256_key(keys.p256dh);
  if (!point || !valid_public(point.get())) return bad("the subscription's p256dh is not a point on P-256");
  return Receiver(std::make_shared<const Key>(Key{keys, std::move(point)}));
}

Result<std::string> encrypt(std::string_view plaintext, const SubscriptionKeys& keys,
                            const std::optional<EncryptFixture>& fixture) {
  auto to = Receiver::from(keys);
  if (!to) return to.error();
  return encrypt(plaintext, *to, fixture);
}

Result<std::string> encrypt(std::string_view plaintext, const Receiver& to,
                            const std::optional<EncryptFixture>& fixture) {
  if (plaintext.size() > kMaxPlaintext) {
    return make_error(Errc::too_large, "a push payload is at most " + std::to_string(kMaxPlaintext) + " bytes");
  }
  const SubscriptionKeys& keys = to.key_->keys;
  EVP_PKEY* receiver = to.key_->point.get();

  Pkey sender = fixture ? p256_key(fixture->public_key, fixture->private_key) : ephemeral_p256();
  if (!sender) return make_error(Errc::internal, "could not make the ephemeral P-256 key");
  const std::string sender_public = encoded_public(sender.get());
  std::string salt(16, '\0');
  if (fixture) {
    salt = fixture->salt;
  } else if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()), 16) != 1) {
    return make_error(Errc::internal, "no random bytes for the salt");
  }
  const std::string shared = ecdh(sender.get(), receiver);
  if (sender_public.empty() || shared.empty() || salt.size() != 16) {
    return make_error(Errc::internal, "the key agreement failed");
  }

  // RFC 8291 §3.3–3.4: the auth secret and both public keys bind the key; the info strings end
  // in a zero byte (HKDF appends its own counter).
  using namespace std::string_literals;
  const std::string ikm = hkdf(keys.auth, shared, "WebPush: info\0"s + keys.p256dh + sender_public, 32);
  const std::string cek = hkdf(salt, ikm, "Content-Encoding: aes128gcm\0"s, 16);
  const std::string nonce = hkdf(salt, ikm, "Content-Encoding: nonce\0"s, 12);
  std::string record(plaintext);
  record.push_back('\x02');  // the last (and only) record's delimiter, no padding after it
  const std::string sealed = aes128gcm_seal(cek, nonce, record);
  if (ikm.empty() || cek.empty() || nonce.empty() || sealed.empty()) {
    return make_error(Errc::internal, "the payload encryption failed");
  }

  std::string body = salt;
  for (int shift = 24; shift >= 0; shift -= 8) body.push_back(static_cast<char>((kRecordSize >> shift) & 0xff));
  body.push_back(static_cast<char>(kPublicKeySize));
  body += sender_public;
  body += sealed;
  return body;
}

struct VapidKey::Key {
  Pkey pkey;
};

VapidKey::VapidKey(std::unique_ptr<Key> key) : key_(std::move(key)) {}
VapidKey::VapidKey(VapidKey&&) noexcept = default;
VapidKey& VapidKey::operator=(VapidKey&&) noexcept = default;
VapidKey::~VapidKey() = default;

Result<VapidKey> VapidKey::generate() {
  Pkey k = generate_p256();
  if (!k) return make_error(Errc::internal, "could not make a P-256 key");
  return VapidKey(std::make_unique<Key>(Key{std::move(k)}));
}

Result<VapidKey> VapidKey::from_pem(std::string_view pem) {
  Pkey k = private_key_from_pem(pem);
  if (!k || !EVP_PKEY_is_a(k.get(), "EC") || encoded_public(k.get()).empty()) {
    return bad("not a PEM P-256 private key");
  }
  return VapidKey(std::make_unique<Key>(Key{std::move(k)}));
}

std::string VapidKey::to_pem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  std::string out;
  if (bio && PEM_write_bio_PrivateKey(bio, key_->pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1) {
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    out.assign(data, static_cast<std::size_t>(length));
  }
  BIO_free(bio);
  return out;
}

std::string VapidKey::public_key() const { return encoded_public(key_->pkey.get()); }

Result<std::string> VapidKey::authorization(std::string_view audience, std::string_view subject,
                                            std::int64_t expires_at_s) const {
  namespace json = boost::json;
  const std::string header = auth::base64url_encode(R"({"typ":"JWT","alg":"ES256"})");
  const std::string claims = auth::base64url_encode(json::serialize(
      json::object{{"aud", audience}, {"exp", expires_at_s}, {"sub", subject}}));
  const std::string signed_part = header + "." + claims;
  const auto der = sign_sha256(key_->pkey.get(), signed_part);
  const std::string signature = der ? jose_signature(*der) : std::string();
  if (signature.empty()) return make_error(Errc::internal, "could not sign the VAPID token");
  return "vapid t=" + signed_part + "." + auth::base64url_encode(signature) +
         ", k=" + auth::base64url_encode(public_key());
}

std::optional<std::string> endpoint_origin(std::string_view endpoint) {
  const auto scheme_end = endpoint.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  const std::string_view scheme = endpoint.substr(0, scheme_end);
  if (scheme != "https" && scheme != "http") return std::nullopt;
  const auto host_end = endpoint.find_first_of("/?#", scheme_end + 3);
  const std::string_view origin = endpoint.substr(0, host_end);
  if (origin.size() == scheme_end + 3) return std::nullopt;  // no host
  return std::string(origin);
}

}  // namespace parley::push
