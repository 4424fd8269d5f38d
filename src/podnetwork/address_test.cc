#include <gtest/gtest.h>

#include "podnetwork/config.h"

namespace pp::podnetwork {
namespace {

TEST(Ipv4AddressTest, ParsesAndPrintsDottedQuads) {
  auto a = Ipv4Address::parse("198.18.0.1");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->value, 0xC6120001u);
  EXPECT_EQ(a->toString(), "198.18.0.1");
  EXPECT_EQ(Ipv4Address::parse("0.0.0.0")->value, 0u);
  EXPECT_EQ(Ipv4Address::parse("255.255.255.255")->value, 0xFFFFFFFFu);
}

TEST(Ipv4AddressTest, RejectsAnythingElse) {
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4 ", "a.b.c.d",
                          "1..2.3", "-1.2.3.4", "1.2.3.4/24", "::1"}) {
    auto a = Ipv4Address::parse(bad);
    EXPECT_FALSE(a.has_value()) << bad;
    if (!a) {
      EXPECT_EQ(a.error().code, Code::kInvalidArgument);
    }
  }
}

TEST(Ipv4PrefixTest, KeepsTheHostPartAndMasksOnRequest) {
  auto p = Ipv4Prefix::parse("10.244.1.5/24");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->toString(), "10.244.1.5/24");
  EXPECT_EQ(p->masked().toString(), "10.244.1.0/24");
  EXPECT_TRUE(p->contains(*Ipv4Address::parse("10.244.1.200")));
  EXPECT_FALSE(p->contains(*Ipv4Address::parse("10.244.2.1")));
  EXPECT_EQ(Ipv4Prefix::parse("0.0.0.0/0")->masked().toString(), "0.0.0.0/0");
  EXPECT_TRUE(Ipv4Prefix::parse("1.2.3.4/0")->contains(*Ipv4Address::parse("9.9.9.9")));
}

TEST(Ipv4PrefixTest, RejectsMalformedPrefixes) {
  for (const char* bad :
       {"10.0.0.1", "10.0.0.1/", "10.0.0.1/33", "10.0.0.1/-1", "10.0.0.1/08", "/24", "10.0.0/24"}) {
    EXPECT_FALSE(Ipv4Prefix::parse(bad).has_value()) << bad;
  }
}

TEST(MacAddressTest, ParsesEitherCasePrintsLowercase) {
  auto m = MacAddress::parse("0A:58:0a:F4:01:05");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->toString(), "0a:58:0a:f4:01:05");
  for (const char* bad : {"", "0a:58:0a:f4:01", "0a:58:0a:f4:01:05:06", "0a-58-0a-f4-01-05",
                          "0g:58:0a:f4:01:05", "0a:58:0a:f4:01:5 "}) {
    EXPECT_FALSE(MacAddress::parse(bad).has_value()) << bad;
  }
}

TEST(TunnelMtuTest, DerivesFromTheUnderlayAndNeverExceedsThePod) {
  EXPECT_EQ(tunnelMtu(1500, 1500), 1450);  // standard Ethernet underlay
  EXPECT_EQ(tunnelMtu(8951, 9001), 8951);  // jumbo underlay (AWS): upstream would cap at 1450
  EXPECT_EQ(tunnelMtu(1450, 9001), 1450);  // never above the pod's own MTU
  EXPECT_EQ(tunnelMtu(1500, 1460), 1410);  // a small underlay (GCP) shrinks the tunnel
  EXPECT_EQ(tunnelMtu(0, 1500), 1450);     // pod MTU unknown
  EXPECT_EQ(tunnelMtu(1500, 100), 68);     // clamped to the IPv4 minimum
}

}  // namespace
}  // namespace pp::podnetwork
