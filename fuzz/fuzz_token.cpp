// Fuzz target: access-token verification (header, signature and claims parsing). Whatever the
// input, verify() must return an error or claims — and never accept a token it did not sign.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "auth/tokens.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static parley::ManualClock clock(1'790'000'000'000);
  static parley::auth::TokenSigner signer(std::string(32, 'f'), std::chrono::seconds(900), clock);
  static const std::string genuine = signer.issue(42, "alice", 7);
  const std::string_view token(reinterpret_cast<const char*>(data), size);
  auto claims = signer.verify(token);
  if (claims.ok() && token != genuine) {
    // Anything else that verifies must re-encode to a token we could have issued: same claims.
    if (claims->user_id != 42 || claims->username != "alice" || claims->session_id != 7) {
      std::abort();
    }
  }
  return 0;
}
