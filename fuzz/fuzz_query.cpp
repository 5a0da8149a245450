// Fuzz target: what the HTTP layer reads from request lines and headers — query parameters,
// Authorization and Origin.
#include <cstdint>
#include <string_view>

#include "api/request_context.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace parley::api;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const char* name : {"recipient", "before", "after", "limit", "access_token"}) {
    (void)query_param(text, name);
  }
  (void)bearer_token(text);
  static const ApiOptions options = [] {
    ApiOptions o;
    o.allowed_origins = {"https://chat.example"};
    return o;
  }();
  (void)origin_allowed(options, text, "127.0.0.1:8080");
  return 0;
}
