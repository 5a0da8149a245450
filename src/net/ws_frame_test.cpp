#include "net/ws_frame.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace parley::net {
namespace {

// A client frame: masked, as RFC 6455 requires of clients.
std::string client_frame(std::string_view payload, unsigned opcode = 0x1, bool fin = true) {
  std::string f;
  f.push_back(static_cast<char>((fin ? 0x80 : 0) | opcode));
  const std::size_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(0x80 | n));
  } else if (n <= 0xFFFF) {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n));
  } else {
    f.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>(std::uint64_t{n} >> (8 * i)));
  }
  const char key[4] = {0x37, static_cast<char>(0xfa), 0x21, 0x3d};
  f.append(key, 4);
  for (std::size_t i = 0; i < n; ++i) f.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
  return f;
}

struct Parsed {
  std::vector<WsEvent::Kind> kinds;
  std::vector<std::string> payloads;
  std::vector<std::uint16_t> codes;
  std::size_t left = 0;  // bytes not consumed
};

Parsed parse(std::string bytes, std::size_t max = 1 << 16) {
  FrameReader reader(max);
  Parsed out;
  std::span<char> input(bytes.data(), bytes.size());
  for (;;) {
    const auto e = reader.next(input);
    if (e.kind == WsEvent::Kind::need_more) break;
    out.kinds.push_back(e.kind);
    out.payloads.emplace_back(e.payload);
    out.codes.push_back(e.code);
    if (e.kind == WsEvent::Kind::fail) break;
  }
  out.left = input.size();
  return out;
}

using K = WsEvent::Kind;

TEST(WsFrame, AcceptKeyIsTheRfcExample) {
  EXPECT_EQ(websocket_accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_TRUE(valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ=="));
  EXPECT_FALSE(valid_websocket_key(""));
  EXPECT_FALSE(valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ"));
  EXPECT_FALSE(valid_websocket_key("dGhlIHNhbXBsZSBub25j!Q=="));
}

TEST(WsFrame, OutboundHeadersUseTheShortestLengthForm) {
  for (std::size_t n : {0u, 125u, 126u, 65535u, 65536u}) {
    const std::string payload(n, 'a');
    const auto f = text_frame(std::string_view(payload));
    const std::size_t header = n < 126 ? 2 : n <= 0xFFFF ? 4 : 10;
    ASSERT_EQ(f->size(), header + n) << n;
    EXPECT_EQ(static_cast<unsigned char>(f->bytes()[0]), 0x81);
    EXPECT_EQ(f->payload(), payload);
    // A payload handed over by value (the header put in front of its own buffer): same bytes.
    std::string owned = payload;
    owned.reserve(n + 10);
    EXPECT_EQ(text_frame(std::move(owned))->bytes(), f->bytes()) << n;
    EXPECT_EQ(text_frame(std::string(payload))->bytes(), f->bytes()) << n;  // no room: still right
  }
  const auto binary = binary_frame(std::string("\x00\xff", 2));
  EXPECT_EQ(binary->bytes(), std::string("\x82\x02\x00\xff", 4));  // FIN, opcode 2
  const auto close = close_frame(4008, std::string(300, 'r'));
  EXPECT_EQ(close->size(), 2u + 125u);  // a control frame holds at most 125 bytes
  EXPECT_EQ(close->payload().substr(0, 2), std::string("\x0f\xa8", 2));
}

TEST(WsFrame, ReadsMaskedTextFramesBackToBack) {
  const auto p = parse(client_frame("hello") + client_frame(std::string(300, 'x')));
  ASSERT_EQ(p.kinds, (std::vector{K::text, K::text}));
  EXPECT_EQ(p.payloads[0], "hello");
  EXPECT_EQ(p.payloads[1], std::string(300, 'x'));
  EXPECT_EQ(p.left, 0u);
}

TEST(WsFrame, AnIncompleteFrameIsLeftUntouchedForLater) {
  const std::string whole = client_frame("{\"op\":\"ping\"}");
  for (std::size_t cut = 0; cut < whole.size(); ++cut) {
    const auto p = parse(whole.substr(0, cut));
    EXPECT_TRUE(p.kinds.empty()) << cut;
    EXPECT_EQ(p.left, cut);
  }
}

TEST(WsFrame, JoinsFragmentsAroundAControlFrame) {
  const auto p = parse(client_frame("hel", 0x1, false) + client_frame("!", 0x9) +
                       client_frame("lo", 0x0, false) + client_frame(" world", 0x0, true));
  ASSERT_EQ(p.kinds, (std::vector{K::ping, K::text}));
  EXPECT_EQ(p.payloads[0], "!");
  EXPECT_EQ(p.payloads[1], "hello world");
}

TEST(WsFrame, ProtocolViolationsFailWithTheirCloseCode) {
  std::string unmasked = "\x81\x02hi";
  EXPECT_EQ(parse(unmasked).codes.back(), close_code::protocol_error);
  EXPECT_EQ(parse(client_frame("x", 0x3)).codes.back(), close_code::protocol_error);  // opcode
  EXPECT_EQ(parse(client_frame("x", 0x0)).codes.back(), close_code::protocol_error);  // stray continuation
  EXPECT_EQ(parse(client_frame("a", 0x1, false) + client_frame("b")).codes.back(),
            close_code::protocol_error);  // a new message inside a fragmented one
  EXPECT_EQ(parse(client_frame("p", 0x9, false)).codes.back(), close_code::protocol_error);
  EXPECT_EQ(parse(client_frame(std::string(126, 'p'), 0x9)).codes.back(), close_code::protocol_error);
  std::string rsv = client_frame("x");
  rsv[0] = static_cast<char>(rsv[0] | 0x40);
  EXPECT_EQ(parse(rsv).codes.back(), close_code::protocol_error);
  EXPECT_EQ(parse(client_frame("\xc3")).codes.back(), close_code::invalid_payload);
  EXPECT_EQ(parse(client_frame("\x03", 0x8)).codes.back(), close_code::protocol_error);
  EXPECT_EQ(parse(client_frame(std::string("\x03\xed", 2), 0x8)).codes.back(),
            close_code::protocol_error);  // 1005 may not be sent
}

TEST(WsFrame, TooBigFailsBeforeThePayloadArrives) {
  // Only the header of a 2000-byte frame, limit 1000: judged at once, not after buffering.
  const std::string header = client_frame(std::string(2000, 'x')).substr(0, 8);
  auto p = parse(header, 1000);
  ASSERT_EQ(p.kinds, (std::vector{K::fail}));
  EXPECT_EQ(p.codes[0], close_code::too_big);
  // Fragments count together.
  p = parse(client_frame(std::string(600, 'a'), 0x1, false) + client_frame(std::string(600, 'b'), 0x0),
            1000);
  EXPECT_EQ(p.codes.back(), close_code::too_big);
}

TEST(WsFrame, CloseFramesCarryCodeAndReason) {
  auto p = parse(client_frame(std::string("\x03\xe8") + "bye", 0x8));
  ASSERT_EQ(p.kinds, (std::vector{K::close}));
  EXPECT_EQ(p.codes[0], 1000);
  EXPECT_EQ(p.payloads[0], "bye");
  p = parse(client_frame("", 0x8));
  EXPECT_EQ(p.codes[0], 1005);  // no status given
}

}  // namespace
}  // namespace parley::net
