// Fuzz target: a multipart/form-data upload body (api/files/multipart.hpp), boundary "b", fed in
// two pieces split where the first input byte says. The reader must refuse or accept, never
// crash, and the file bytes it hands on must be the same whatever the split.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/files/multipart.hpp"

namespace {
std::string read(std::string_view body, std::size_t split, bool& ok) {
  std::string out;
  parley::api::MultipartReader reader("b", [&](std::string_view bytes) { out += bytes; });
  split = std::min(split, body.size());
  ok = reader.feed(body.substr(0, split)) && reader.feed(body.substr(split)) && reader.finish();
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  bool ok_whole = false, ok_split = false;
  const auto whole = read(body, body.size(), ok_whole);
  const auto split = read(body, data[0], ok_split);
  if (ok_whole != ok_split || (ok_whole && whole != split)) std::abort();
  return 0;
}
