// dendrite/address.h: the one host:port parser (config, transport, client).
#include "dendrite/address.h"

#include <gtest/gtest.h>

namespace dendrite {
namespace {

TEST(AddressTest, ParsesHostAndPort) {
  auto hp = parse_host_port("127.0.0.1:5000");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "127.0.0.1");
  EXPECT_EQ(hp->port, 5000);
  EXPECT_EQ(parse_host_port("h:65535")->port, 65535);
  EXPECT_EQ(parse_host_port("[::1]:7")->host, "[::1]");
  EXPECT_EQ(parse_host_port("a:b:9")->host, "a:b");  // split at the last colon
}

TEST(AddressTest, PortZeroOnlyWhereAsked) {
  EXPECT_EQ(parse_host_port("example.org:0", 0)->port, 0);
  EXPECT_FALSE(parse_host_port("example.org:0").ok());
  EXPECT_FALSE(check_peer_address("example.org:0").ok());
  EXPECT_FALSE(parse_host_port("h:80", 1024).ok());
}

TEST(AddressTest, RefusesMalformedAddressesNamingThem) {
  for (const char* bad : {"", "5000", ":5000", "h:", "h:65536", "h:-1", "h:+1", "h:12x", "h :1",
                          "a b:1", "a/b:1", "h:000001", "h:99999999999999999999", "localhost"}) {
    auto r = parse_host_port(bad, 0);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(r.status().message(),
              "'" + std::string(bad) + "' is not host:port with a port from 0 to 65535");
    EXPECT_EQ(check_peer_address(bad).code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(check_peer_address("127.0.0.1:1").ok());
}

TEST(AddressTest, LoopbackHostsAreOnlyThoseWrittenAsLoopback) {
  for (const char* h : {"localhost", "127.0.0.1", "127.1.2.3", "127.255.255.255", "::1", "[::1]"}) {
    EXPECT_TRUE(is_loopback_host(h)) << h;
  }
  for (const char* h : {"0.0.0.0", "*", "10.0.0.1", "128.0.0.1", "127.0.0", "127.0.0.256",
                        "127.0.0.1.5", "127..0.1", "127.0.0.", "127.a.0.1", "[::]",
                        "::", "example.org", "localhost.example.org", ""}) {
    EXPECT_FALSE(is_loopback_host(h)) << h;
  }
}

}  // namespace
}  // namespace dendrite
