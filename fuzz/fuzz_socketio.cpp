// Fuzz target: what a Socket.IO client sends — an Engine.IO long-polling body or WebSocket
// frame, and the Socket.IO packet inside a message (api/socketio/). Decoding must refuse or
// accept, never crash; what decodes re-encodes to something that decodes the same way.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/socketio/engine_io.hpp"
#include "api/socketio/socket_io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace parley::api;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto packets = eio::decode_payload(text)) {
    auto again = eio::decode_payload(eio::encode_payload(*packets));
    if (!again || *again != *packets) std::abort();
    for (const auto& p : *packets) {
      if (p.type == eio::PacketType::message && !p.binary) (void)sio::decode(p.data);
    }
  }
  (void)eio::decode_text(text);
  if (auto p = sio::decode(text); p.ok()) {
    auto again = sio::decode(sio::encode(*p));
    if (!again.ok() || again->type != p->type || again->nsp != p->nsp || again->id != p->id ||
        again->data != p->data) {
      std::abort();
    }
  }
  return 0;
}
