#include "crypto/message_sealer.hpp"

namespace parley::crypto {

namespace {

std::string context(std::string_view field_name, std::string_view conv, std::string_view id) {
  std::string c = "parley message|";
  c += field_name;
  c += '|';
  c += conv;
  c += '|';
  c += id;
  return c;
}

}  // namespace

std::string MessageSealer::seal_field(std::string_view field_name, std::string_view conv,
                                      std::string_view id, std::string_view plaintext) const {
  if (plaintext.empty() || !seal_new_) return std::string(plaintext);
  std::string out(kMarker);
  out += keys_.seal(plaintext, context(field_name, conv, id));
  return out;
}

Status MessageSealer::open_field(std::string_view field_name, std::string_view conv,
                                 std::string_view id, std::string& field) const {
  if (!is_sealed(field)) return ok_status();
  auto plain = keys_.open(std::string_view(field).substr(kMarker.size()),
                          context(field_name, conv, id));
  if (!plain) {
    return make_error(Errc::bad_ciphertext, "message " + std::string(id) + ": " + std::string(field_name) +
                                                " does not open (" + plain.error().message + ")");
  }
  field = std::move(*plain);
  return ok_status();
}

void MessageSealer::seal(chat::NewMessage& m) const {
  m.body = seal_field("body", m.conv, m.id, m.body);
  m.attachments = seal_field("attachments", m.conv, m.id, m.attachments);
}

std::string MessageSealer::seal_body(std::string_view conv, std::string_view id,
                                     std::string_view body) const {
  return seal_field("body", conv, id, body);
}

Status MessageSealer::open(chat::Message& m) const {
  if (auto s = open_field("body", m.conv, m.id, m.body); !s) return s;
  return open_field("attachments", m.conv, m.id, m.attachments);
}

bool MessageSealer::is_current_field(std::string_view field) const {
  if (field.empty()) return true;
  if (!is_sealed(field)) return !seal_new_;
  return !seal_new_ || Keyring::key_of(field.substr(kMarker.size())) == keys_.current();
}

bool MessageSealer::is_current(const chat::Message& m) const {
  return is_current_field(m.body) && is_current_field(m.attachments);
}

Status MessageSealer::reseal(chat::Message& m) const {
  if (auto s = open(m); !s) return s;
  m.body = seal_field("body", m.conv, m.id, m.body);
  m.attachments = seal_field("attachments", m.conv, m.id, m.attachments);
  return ok_status();
}

std::string MessageSealer::seal_file_name(std::string_view file_id, std::string_view name) const {
  return seal_field("name", "file", file_id, name);
}

Status MessageSealer::open_file_name(std::string_view file_id, std::string& name) const {
  return open_field("name", "file", file_id, name);
}

}  // namespace parley::crypto
