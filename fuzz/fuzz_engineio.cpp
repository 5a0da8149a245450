// Fuzz target: what a Socket.IO client sends at the Engine.IO level — a long-polling body or a
// WebSocket text frame (api/socketio/engine_io.hpp). Decoding must refuse or accept, never
// crash; a payload that decodes re-encodes to one that decodes the same.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/socketio/engine_io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace parley::api;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto packets = eio::decode_payload(text)) {
    auto again = eio::decode_payload(eio::encode_payload(*packets));
    if (!again || *again != *packets) std::abort();
  }
  if (auto packet = eio::decode_text(text)) {
    if (eio::decode_text(eio::encode_text(*packet)) != packet) std::abort();
  }
  return 0;
}
