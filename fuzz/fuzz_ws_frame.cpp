// Fuzz target: the WebSocket frame reader (net/ws_frame.hpp), which parses every byte a client
// sends after the handshake. Checks, besides memory safety under the sanitizers:
//   - how the bytes are split across reads changes nothing: the whole input at once and the same
//     input one byte at a time (kept in a pending buffer, as WsConnection does) give the same
//     events;
//   - text messages are valid UTF-8 and no message is over the limit;
//   - after a failure, the reader only ever reports failure.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "core/utf8.hpp"
#include "net/ws_frame.hpp"

namespace {

using parley::net::FrameReader;
using parley::net::WsEvent;

constexpr std::size_t kMaxMessage = 1024;

struct Seen {
  WsEvent::Kind kind;
  std::string payload;
  std::uint16_t code;
  bool operator==(const Seen&) const = default;
};

void check(const WsEvent& e) {
  if (e.kind == WsEvent::Kind::text && !parley::is_valid_utf8(e.payload)) std::abort();
  if ((e.kind == WsEvent::Kind::text || e.kind == WsEvent::Kind::binary) &&
      e.payload.size() > kMaxMessage) {
    std::abort();
  }
}

// Feeds `data` in pieces of `step` bytes (0: all at once); stops at the first failure.
std::vector<Seen> run(const std::uint8_t* data, std::size_t size, std::size_t step) {
  FrameReader reader(kMaxMessage);
  std::vector<Seen> seen;
  std::string pending;
  std::size_t offset = 0;
  while (offset < size) {
    const std::size_t n = step == 0 ? size : std::min(step, size - offset);
    pending.append(reinterpret_cast<const char*>(data + offset), n);
    offset += n;
    std::span<char> input(pending.data(), pending.size());
    for (;;) {
      const std::size_t before = input.size();
      const WsEvent e = reader.next(input);
      if (input.size() > before) std::abort();
      if (e.kind == WsEvent::Kind::need_more) break;
      check(e);
      seen.push_back({e.kind, std::string(e.payload), e.code});
      if (e.kind == WsEvent::Kind::fail) {
        std::span<char> empty;
        if (reader.next(empty).kind != WsEvent::Kind::fail) std::abort();
        return seen;
      }
    }
    pending.erase(0, pending.size() - input.size());
  }
  return seen;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (run(data, size, 0) != run(data, size, 1)) std::abort();
  return 0;
}
