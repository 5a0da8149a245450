#pragma once
// OpenSSL keys as the push senders use them (internal to push/): owned EVP_PKEYs, read from PEM,
// and SHA-256 signatures — ES256 for VAPID (push/web_push.cpp), RS256 for FCM's OAuth assertion
// (push/fcm_sender.cpp).
// Threads: any; an EVP_PKEY may sign from several threads at once.

#include <openssl/evp.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace parley::push {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// A private key from PEM (PKCS#8 or the traditional forms); null when it is none.
Pkey private_key_from_pem(std::string_view pem);
// The signature of SHA-256(input) by key: DER for EC keys, raw for RSA (PKCS#1 v1.5); nullopt
// when signing failed.
std::optional<std::string> sign_sha256(EVP_PKEY* key, std::string_view input);

}  // namespace parley::push
