// Fuzz target: a Socket.IO v5 packet as a client sends it inside an Engine.IO message
// (api/socketio/socket_io.hpp). Decoding must refuse or accept, never crash; what decodes
// re-encodes to something that decodes the same.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/socketio/socket_io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace parley::api;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto p = sio::decode(text); p.ok()) {
    auto again = sio::decode(sio::encode(*p));
    if (!again.ok() || again->type != p->type || again->nsp != p->nsp || again->id != p->id ||
        again->data != p->data) {
      std::abort();
    }
  }
  return 0;
}
