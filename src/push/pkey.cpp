#include "push/pkey.hpp"

#include <openssl/bio.h>
#include <openssl/pem.h>

namespace parley::push {

Pkey private_key_from_pem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  Pkey key(bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr);
  BIO_free(bio);
  return key;
}

std::optional<std::string> sign_sha256(EVP_PKEY* key, std::string_view input) {
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  std::size_t length = 0;
  std::string signature;
  bool ok = md && EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestSign(md, nullptr, &length, data, input.size()) == 1;
  if (ok) {
    signature.resize(length);
    ok = EVP_DigestSign(md, reinterpret_cast<unsigned char*>(signature.data()), &length, data,
                        input.size()) == 1;
    signature.resize(length);
  }
  EVP_MD_CTX_free(md);
  if (!ok) return std::nullopt;
  return signature;
}

}  // namespace parley::push
