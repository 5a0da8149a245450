#pragma once
// TextCipher: the ciphertexts of the encryption service (POST /encrypt, POST /decrypt;
// docs/security.md, "The encryption service"). A client hands the server a text and gets back
// a ciphertext it may keep anywhere; only the server can open it again, and only for whom it is
// bound to:
//   - the caller who sealed it (Binding::user), or
//   - a conversation (Binding::conv): whoever is a member when it is opened.
// Who may ask is the service's business (ChatService::decrypt_text checks membership); this
// class only seals and opens, under the data keys (crypto/keyring.hpp), so rotation and rewrap
// cover these too: an old ciphertext keeps opening after `parley keys rotate`.
//
// A ciphertext is text:
//     u<user id>.k<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>     bound to a user
//     c<conversation id>.k<key id>.<…>                                bound to a conversation
// with "parley encrypt|u<user id>" or "parley encrypt|c<conv>" as context, so a ciphertext
// relabelled with another user or conversation does not open. The binding is in the clear (the
// server must know whom to ask about before it opens anything); the text is not.
//
// Threads: any (the Keyring is thread-safe).

#include <string>
#include <string_view>

#include "chat/types.hpp"
#include "core/result.hpp"
#include "crypto/keyring.hpp"

namespace parley::crypto {

struct TextBinding {
  enum class Kind { user, conv };
  Kind kind = Kind::user;
  chat::UserId user = 0;  // Kind::user
  chat::ConvId conv;      // Kind::conv
};

class TextCipher {
 public:
  explicit TextCipher(const Keyring& keys) : keys_(keys) {}

  // Seals under the current data key (the ring must not be empty).
  std::string seal(const TextBinding& binding, std::string_view text) const;
  // The binding a ciphertext names, read without opening it. Errc::bad_ciphertext when the
  // text is not shaped like one.
  static Result<TextBinding> binding_of(std::string_view ciphertext);
  // The key id a ciphertext names (0 when it is not one).
  static std::uint32_t key_of(std::string_view ciphertext);
  // Opens a ciphertext; Errc::bad_ciphertext when it is not one, names a key this ring lacks,
  // or was tampered with, truncated or relabelled.
  Result<std::string> open(std::string_view ciphertext) const;

  // The longest ciphertext a text of `text_bytes` seals into (binding prefix included), for
  // size limits.
  static std::size_t max_sealed_size(std::size_t text_bytes);

 private:
  const Keyring& keys_;
};

}  // namespace parley::crypto
