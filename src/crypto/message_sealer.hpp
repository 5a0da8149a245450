#pragma once
// MessageSealer: what of a message (and of a file's record) is encrypted at rest, and how (docs/security.md, "At rest").
//
// A message's body and its attachments (their names are in that JSON) are sealed once, when the
// server accepts the message (ChatService::append, ChatService::change_message), and travel
// sealed through the journal, Kafka, the stores and back; ChatService opens them on the way out
// to members. In their at-rest form the fields hold
//     \x01 <a Keyring sealed value>
// with the conversation id, the message id and the field's name as context, so a sealed body
// copied to another message, conversation or field does not open. The marker byte tells a
// sealed field from one written without encryption (a store from before --encrypt-at-rest, or
// with it off), which is read as it is. Empty fields stay empty (a tombstone, a message without
// attachments).
//
// Threads: any (the Keyring is thread-safe and this holds nothing else that changes).

#include <string>
#include <string_view>

#include "chat/types.hpp"
#include "core/result.hpp"
#include "crypto/keyring.hpp"

namespace parley::crypto {

class MessageSealer {
 public:
  // seal_new: --encrypt-at-rest; when false, new fields are stored as they are, and what was
  // sealed before still opens (the keyring must then still have its keys).
  MessageSealer(const Keyring& keys, bool seal_new) : keys_(keys), seal_new_(seal_new) {}

  bool seals_new() const { return seal_new_; }
  const Keyring& keys() const { return keys_; }

  // Seals m's body and attachments in place (m.id must be set). Nothing when !seals_new().
  void seal(chat::NewMessage& m) const;
  // A new body for message `id` of conv, in its at-rest form (an edit).
  std::string seal_body(std::string_view conv, std::string_view id, std::string_view body) const;

  // Opens m's sealed fields in place; plaintext fields are left as they are.
  // Errc::bad_ciphertext when one does not open.
  Status open(chat::Message& m) const;

  // Whether m's fields are all in the form seal() gives them now: sealed under the current key
  // (or, with sealing off, whatever they are). Rewrapping (service/rewrap.hpp) reseals the rest.
  bool is_current(const chat::Message& m) const;
  // Reseals m's fields under the current key (opening them first); m must be open()-able.
  Status reseal(chat::Message& m) const;

  // A file's name in the file catalog (FileService), in the same at-rest form, bound to the
  // file's id. (The contents are sealed by crypto/sealed_blob_store.hpp.)
  std::string seal_file_name(std::string_view file_id, std::string_view name) const;
  Status open_file_name(std::string_view file_id, std::string& name) const;
  // Whether a stored name is in the form seal_file_name gives it now (as is_current).
  bool file_name_is_current(std::string_view name) const { return is_current_field(name); }

  static bool is_sealed(std::string_view field) { return field.starts_with(kMarker); }

 private:
  static constexpr std::string_view kMarker = "\x01";
  bool is_current_field(std::string_view field) const;
  std::string seal_field(std::string_view field_name, std::string_view conv, std::string_view id,
                         std::string_view plaintext) const;
  Status open_field(std::string_view field_name, std::string_view conv, std::string_view id,
                    std::string& field) const;

  const Keyring& keys_;
  const bool seal_new_;
};

}  // namespace parley::crypto
