#pragma once
// The bodies of end-to-end encrypted conversations (docs/protocol.md §11.2): envelopes that
// clients encrypted, whose shape and size the server checks and whose content it never opens.
// (Not chat::Envelope, which is an event on its way to its recipients.)
//
// The cryptography is the clients' (docs/security.md, "End-to-end encrypted conversations"; the
// reference client is tests/integration/e2ee_client.py). Pure functions: any thread.

#include <cstddef>
#include <string_view>

#include "core/result.hpp"

namespace parley::e2ee {

// Ids of sender keys and names of devices: 1 to 64 of A-Z a-z 0-9 . _ -
constexpr std::size_t kMaxNameBytes = 64;
// Key boxes an envelope may carry: one per recipient device.
constexpr std::size_t kMaxKeyBoxes = 1024;

// Whether `name` is a valid device name or sender-key id.
bool is_valid_name(std::string_view name);

// Whether `text` is the base64url (no padding) of exactly `bytes` bytes; at_least: of `bytes`
// or more.
bool is_base64url_of(std::string_view text, std::size_t bytes, bool at_least = false);

// Checks that body is a version-1 envelope of at most max_bytes: Errc::e2ee_required when it is
// not a JSON object with "v" (a plaintext body), Errc::bad_request naming the field when one is
// missing, unknown or of the wrong form, Errc::too_large past max_bytes.
Status check_envelope(std::string_view body, std::size_t max_bytes);

}  // namespace parley::e2ee
