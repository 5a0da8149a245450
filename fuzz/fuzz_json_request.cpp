// Fuzz target: request bodies and WebSocket frames — UTF-8 check, JSON parse, field readers.
#include <cstdint>
#include <string_view>

#include "api/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace parley::api;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto object = parse_object(text);
  if (!object) return 0;
  for (const char* key : {"op", "id", "conv", "to", "client_msg_id", "body", "token", "seq",
                          "before", "after", "limit", "reply_to", "changed_after"}) {
    (void)opt_string(*object, key);
    (void)opt_int(*object, key);
    (void)req_string(*object, key);
    (void)req_int(*object, key);
  }
  return 0;
}
