#pragma once
// Result<T>: the value of an operation that can fail in an expected way.
//
// Expected failures (unknown user, not a member, conflict, bad input, storage down) are values,
// never exceptions: the message path must not throw. Every Errc has a stable machine code that
// clients see (docs/protocol.md, "Errors"), and every Error carries a human message.
// Thread-safety: plain values; no shared state.

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace parley {

enum class Errc {
  bad_request,        // malformed or invalid input
  invalid_utf8,       // text that is not UTF-8
  too_large,          // over a configured size limit
  unauthenticated,    // missing, bad or expired credentials
  forbidden,          // authenticated but not allowed
  not_member,         // not a member of the conversation
  not_found,          // no such user, conversation or message
  conflict,           // already exists (username taken, already a member)
  unknown_op,         // WebSocket op the server does not know
  rate_limited,       // too many requests
  unavailable,        // a backend is down or the node is shutting down
  quota_exceeded,     // the user's storage quota would be passed (files)
  unprocessable,      // well-formed but cannot be handled (an image too large to decode)
  bad_ciphertext,     // a sealed value that does not open: tampered, truncated or foreign
  e2ee_required,      // a plaintext body in an end-to-end encrypted conversation
  mfa_required,       // the password was right; a second factor is needed (details: challenge)
  internal,           // a bug or an unexpected backend failure (keep last: errc_from_code)
};

// The stable machine code of an Errc, as sent to clients.
std::string_view errc_code(Errc e);
// The Errc whose errc_code is `code`; Errc::internal for a code this build does not know.
Errc errc_from_code(std::string_view code);

struct Error {
  Errc code;
  std::string message;
  // Fields a client needs besides code and message, rendered beside them ("challenge" of
  // mfa_required). Empty for nearly every error.
  std::vector<std::pair<std::string, std::string>> details = {};
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT
  static Result fail(Errc code, std::string message) { return Error{code, std::move(message)}; }

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

struct Unit {};
using Status = Result<Unit>;
inline Status ok_status() { return Unit{}; }

inline Error make_error(Errc code, std::string message) { return Error{code, std::move(message)}; }

}  // namespace parley
