#include "api/throttle.hpp"

#include <gtest/gtest.h>

namespace parley::api {
namespace {

TrustedProxies trusted(std::vector<std::string> entries) {
  auto parsed = parse_trusted_proxies(entries);
  EXPECT_TRUE(parsed.ok());
  return parsed.ok() ? *parsed : TrustedProxies{};
}

TEST(ClientAddress, IsThePeerWithoutItsPortUnlessThePeerIsATrustedProxy) {
  const auto none = trusted({});
  EXPECT_EQ(client_address(none, "192.0.2.7:51000", ""), "192.0.2.7");
  EXPECT_EQ(client_address(none, "::1:51000", ""), "::1");
  EXPECT_EQ(client_address(none, "[2001:db8::5]:443", ""), "2001:db8::5");
  // An untrusted peer's X-Forwarded-For is whatever it wants to say: ignored.
  EXPECT_EQ(client_address(none, "192.0.2.7:51000", "10.1.1.1"), "192.0.2.7");
}

TEST(ClientAddress, BelievesOnlyWhatTrustedProxiesAppended) {
  const auto proxies = trusted({"10.0.0.0/8", "::1"});
  EXPECT_EQ(client_address(proxies, "10.0.0.2:4000", "198.51.100.9"), "198.51.100.9");
  // The client prepended a fake hop: the rightmost untrusted entry is the client.
  EXPECT_EQ(client_address(proxies, "10.0.0.2:4000", "1.2.3.4, 198.51.100.9, 10.0.0.3"),
            "198.51.100.9");
  EXPECT_EQ(client_address(proxies, "::1:4000", "203.0.113.1"), "203.0.113.1");
  // Every hop trusted: the leftmost is as far as the chain goes.
  EXPECT_EQ(client_address(proxies, "10.0.0.2:4000", "10.9.9.9"), "10.9.9.9");
  // Garbage stops the walk at the last good hop.
  EXPECT_EQ(client_address(proxies, "10.0.0.2:4000", "198.51.100.9, nonsense"), "10.0.0.2");
  EXPECT_EQ(client_address(proxies, "10.0.0.2:4000", ""), "10.0.0.2");
}

TEST(TrustedProxies, ParsesAddressesAndCidrBlocksAndRefusesTheRest) {
  const auto t = trusted({"192.168.0.0/16", " 127.0.0.1 ", "fd00::/8"});
  EXPECT_TRUE(t.contains("192.168.44.1"));
  EXPECT_FALSE(t.contains("192.169.0.1"));
  EXPECT_TRUE(t.contains("127.0.0.1"));
  EXPECT_FALSE(t.contains("127.0.0.2"));
  EXPECT_TRUE(t.contains("fd12::1"));
  EXPECT_FALSE(t.contains("fe80::1"));
  EXPECT_FALSE(t.contains("not an address"));
  for (const char* bad : {"10.0.0.0/33", "example.com", "10.0.0.0/", "::/129", "1.2.3.4/x"}) {
    auto r = parse_trusted_proxies({bad});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find(bad), std::string::npos);
  }
}

}  // namespace
}  // namespace parley::api
