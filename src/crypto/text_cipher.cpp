#include "crypto/text_cipher.hpp"

#include <charconv>

namespace parley::crypto {

namespace {

Error not_a_ciphertext() {
  return make_error(Errc::bad_ciphertext, "encryptedMessage is not a Parley ciphertext");
}

// "u42" or "c<conv>": the label that starts a ciphertext and ends its context.
std::string label(const TextBinding& b) {
  return b.kind == TextBinding::Kind::user ? "u" + std::to_string(b.user) : "c" + b.conv;
}

std::string context(const TextBinding& b) {
  std::string c = "parley encrypt|";
  c += label(b);
  return c;
}

// Splits "label.sealed" at its first dot.
bool split(std::string_view ciphertext, std::string_view& label, std::string_view& sealed) {
  const auto dot = ciphertext.find('.');
  if (dot == std::string_view::npos || dot < 2) return false;
  label = ciphertext.substr(0, dot);
  sealed = ciphertext.substr(dot + 1);
  return true;
}

}  // namespace

std::string TextCipher::seal(const TextBinding& binding, std::string_view text) const {
  std::string out = label(binding);
  out += '.';
  out += keys_.seal(text, context(binding));
  return out;
}

Result<TextBinding> TextCipher::binding_of(std::string_view ciphertext) {
  std::string_view head, sealed;
  if (!split(ciphertext, head, sealed) || !Keyring::key_of(sealed)) return not_a_ciphertext();
  TextBinding b;
  const auto rest = head.substr(1);
  if (head[0] == 'u') {
    b.kind = TextBinding::Kind::user;
    const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), b.user);
    if (ec != std::errc() || end != rest.data() + rest.size() || b.user <= 0) {
      return not_a_ciphertext();
    }
    return b;
  }
  if (head[0] == 'c') {
    b.kind = TextBinding::Kind::conv;
    b.conv = std::string(rest);
    return b;
  }
  return not_a_ciphertext();
}

std::uint32_t TextCipher::key_of(std::string_view ciphertext) {
  std::string_view head, sealed;
  if (!split(ciphertext, head, sealed)) return 0;
  return Keyring::key_of(sealed).value_or(0);
}

Result<std::string> TextCipher::open(std::string_view ciphertext) const {
  auto binding = binding_of(ciphertext);
  if (!binding) return binding.error();
  const auto sealed = ciphertext.substr(ciphertext.find('.') + 1);
  auto text = keys_.open(sealed, context(*binding));
  if (!text) {
    return make_error(Errc::bad_ciphertext,
                      "encryptedMessage does not open: tampered with, truncated, or not sealed "
                      "by this deployment");
  }
  return text;
}

std::size_t TextCipher::max_sealed_size(std::size_t text_bytes) {
  // label (u + 19 digits, or c + a conversation id of up to 64 bytes) + "." + "k" + 10 digits +
  // "." + base64url of nonce (24) ‖ text ‖ tag (16).
  const std::size_t raw = 24 + text_bytes + 16;
  return 1 + 64 + 1 + 1 + 10 + 1 + (raw + 2) / 3 * 4;
}

}  // namespace parley::crypto
