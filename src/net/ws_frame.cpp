#include "net/ws_frame.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "core/utf8.hpp"

namespace parley::net {

namespace {

constexpr std::string_view kAcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr std::size_t kMaxControlPayload = 125;

// Standard base64 with padding (the handshake's alphabet, not base64url).
std::string base64(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data,
                                static_cast<int>(size));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

bool valid_close_code(unsigned code) {
  // RFC 6455 §7.4: 1004–1006 and 1015 must never be sent; 1016–2999 are reserved.
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

void unmask(char* data, std::size_t size, const std::array<unsigned char, 4>& key) {
  // Word at a time: masking is the one per-byte loop on the read path.
  std::uint64_t key8;
  unsigned char pattern[8];
  for (int i = 0; i < 8; ++i) pattern[i] = key[static_cast<std::size_t>(i % 4)];
  std::memcpy(&key8, pattern, 8);
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, data + i, 8);
    word ^= key8;
    std::memcpy(data + i, &word, 8);
  }
  for (; i < size; ++i) data[i] = static_cast<char>(data[i] ^ key[i % 4]);
}

}  // namespace

std::string websocket_accept_key(std::string_view client_key) {
  std::string input;
  input.reserve(client_key.size() + kAcceptGuid.size());
  input.append(client_key).append(kAcceptGuid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(input.data(), input.size(), digest, &size, EVP_sha1(), nullptr);
  return base64(digest, size);
}

bool valid_websocket_key(std::string_view key) {
  if (key.size() != 24 || !key.ends_with("==")) return false;
  return std::all_of(key.begin(), key.end() - 2, [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
  });
}

namespace {

// The header of an unmasked, unfragmented frame of `n` payload bytes; returns its size.
std::size_t frame_header(OutFrame::Kind kind, std::size_t n, char (&header)[10]) {
  header[0] = static_cast<char>(0x80 | static_cast<unsigned>(kind));  // FIN, never fragmented
  if (n < 126) {
    header[1] = static_cast<char>(n);
    return 2;
  }
  if (n <= 0xFFFF) {
    header[1] = 126;
    header[2] = static_cast<char>(n >> 8);
    header[3] = static_cast<char>(n);
    return 4;
  }
  header[1] = 127;
  for (int i = 0; i < 8; ++i) header[2 + i] = static_cast<char>(std::uint64_t{n} >> (56 - 8 * i));
  return 10;
}

}  // namespace

OutFrame::OutFrame(Kind kind, std::string_view payload) {
  if (kind == Kind::raw) {
    bytes_ = payload;
    return;
  }
  char header[10];
  const std::size_t h = frame_header(kind, payload.size(), header);
  bytes_.reserve(h + payload.size());
  bytes_.append(header, h).append(payload);
  header_size_ = static_cast<std::uint8_t>(h);
}

OutFrame::OutFrame(Kind kind, std::string&& payload) : bytes_(std::move(payload)) {
  if (kind == Kind::raw) return;
  char header[10];
  const std::size_t h = frame_header(kind, bytes_.size(), header);
  bytes_.insert(0, header, h);  // in place when the payload left room (api::to_text does)
  header_size_ = static_cast<std::uint8_t>(h);
}

Frame text_frame(std::string_view payload) {
  return std::make_shared<const OutFrame>(OutFrame::Kind::text, payload);
}

Frame text_frame(std::string&& payload) {
  return std::make_shared<const OutFrame>(OutFrame::Kind::text, std::move(payload));
}

Frame binary_frame(std::string&& payload) {
  return std::make_shared<const OutFrame>(OutFrame::Kind::binary, std::move(payload));
}

Frame close_frame(std::uint16_t code, std::string_view reason) {
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  payload.append(truncate_utf8(reason, kMaxControlPayload - 2));
  return std::make_shared<const OutFrame>(OutFrame::Kind::close, payload);
}

WsEvent FrameReader::fail(std::uint16_t code, std::string_view reason) {
  failed_ = true;
  message_ = {};
  in_message_ = false;
  return {WsEvent::Kind::fail, reason, code};
}

WsEvent FrameReader::finish_message(bool text, std::string_view payload) {
  if (text && !is_valid_utf8(payload)) {
    return fail(close_code::invalid_payload, "text frame is not valid UTF-8");
  }
  return {text ? WsEvent::Kind::text : WsEvent::Kind::binary, payload, 0};
}

WsEvent FrameReader::next(std::span<char>& input) {
  if (failed_) return {WsEvent::Kind::fail, "protocol error", close_code::protocol_error};
  // Done with the message returned last time? Its buffer is reused, not freed, unless large.
  if (!in_message_ && !message_.empty()) {
    message_.clear();
    if (message_.capacity() > 4096) message_ = {};
  }

  // One frame per turn; fragments of a message are joined until its last one.
  for (;;) {
    const auto* p = reinterpret_cast<const unsigned char*>(input.data());
    const std::size_t available = input.size();
    if (available < 2) return {};
    const bool fin = (p[0] & 0x80) != 0;
    const unsigned rsv = p[0] & 0x70;
    const unsigned opcode = p[0] & 0x0F;
    const bool masked = (p[1] & 0x80) != 0;
    std::uint64_t length = p[1] & 0x7F;
    std::size_t header = 2;

    // What can be judged from the first two bytes is judged before waiting for more.
    if (rsv != 0) return fail(close_code::protocol_error, "reserved bits set (no extension agreed)");
    const bool control = (opcode & 0x8) != 0;
    if (opcode != 0x0 && opcode != 0x1 && opcode != 0x2 && opcode != 0x8 && opcode != 0x9 &&
        opcode != 0xA) {
      return fail(close_code::protocol_error, "unknown opcode");
    }
    if (!masked) return fail(close_code::protocol_error, "client frames must be masked");
    if (control && (!fin || length > kMaxControlPayload)) {
      return fail(close_code::protocol_error, "control frames must be whole and at most 125 bytes");
    }
    if (opcode == 0x0 && !in_message_) return fail(close_code::protocol_error, "continuation without a message");
    if ((opcode == 0x1 || opcode == 0x2) && in_message_) {
      return fail(close_code::protocol_error, "new message before the last one ended");
    }

    if (length == 126) {
      if (available < 4) return {};
      length = (std::uint64_t{p[2]} << 8) | p[3];
      header = 4;
      if (length < 126) return fail(close_code::protocol_error, "length not minimally encoded");
    } else if (length == 127) {
      if (available < 10) return {};
      length = 0;
      for (int i = 0; i < 8; ++i) length = (length << 8) | p[2 + i];
      header = 10;
      if (length >> 63) return fail(close_code::protocol_error, "length over 2^63");
      if (length <= 0xFFFF) return fail(close_code::protocol_error, "length not minimally encoded");
    }
    // The message so far plus this frame must fit, checked before the payload is even here.
    const std::uint64_t so_far = in_message_ ? message_.size() : 0;
    if (!control && length > max_message_ - std::min<std::uint64_t>(so_far, max_message_)) {
      return fail(close_code::too_big, "message over the size limit");
    }
    if (available < header + 4) return {};
    std::array<unsigned char, 4> key{p[header], p[header + 1], p[header + 2], p[header + 3]};
    header += 4;
    if (available - header < length) return {};

    char* payload_data = input.data() + header;
    const auto size = static_cast<std::size_t>(length);
    unmask(payload_data, size, key);
    const std::string_view payload(payload_data, size);
    input = input.subspan(header + size);

    switch (opcode) {
      case 0x8: {  // close
        if (size == 1) return fail(close_code::protocol_error, "close frame with a 1-byte payload");
        if (size == 0) return {WsEvent::Kind::close, {}, 1005};
        const unsigned code = (static_cast<unsigned char>(payload[0]) << 8) |
                              static_cast<unsigned char>(payload[1]);
        if (!valid_close_code(code)) return fail(close_code::protocol_error, "invalid close code");
        if (!is_valid_utf8(payload.substr(2))) {
          return fail(close_code::invalid_payload, "close reason is not valid UTF-8");
        }
        return {WsEvent::Kind::close, payload.substr(2), static_cast<std::uint16_t>(code)};
      }
      case 0x9: return {WsEvent::Kind::ping, payload, 0};
      case 0xA: return {WsEvent::Kind::pong, payload, 0};
      default: break;
    }
    if (opcode != 0x0) {  // the first frame of a message
      if (fin) return finish_message(opcode == 0x1, payload);  // the usual case: no copy
      in_message_ = true;
      message_text_ = opcode == 0x1;
      message_.assign(payload);
      continue;
    }
    message_.append(payload);
    if (!fin) continue;
    in_message_ = false;
    return finish_message(message_text_, message_);
  }
}

}  // namespace parley::net
