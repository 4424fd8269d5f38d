#include "podnetwork/config.h"

#include <gtest/gtest.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include <nlohmann/json.hpp>

namespace pp::podnetwork {
namespace {

using nlohmann::json;

// What upstream's CAA writes into apf.json (Go encoding/json of tunneler.Config): default route
// dst "", gw "" when on-link, omitempty fields left out, neighbours null when there are none.
constexpr const char* kUpstreamJson = R"({
  "podip": "10.244.1.5/24",
  "pod-hw-addr": "0a:58:0a:f4:01:05",
  "interface": "eth0",
  "worker-node-ip": "192.168.122.10/24",
  "tunnel-type": "vxlan",
  "routes": [
    {"dst": "", "gw": "10.244.1.1", "dev": "eth0", "protocol": "boot"},
    {"dst": "10.244.0.0/16", "gw": "10.244.1.1", "dev": "eth0", "protocol": "static"},
    {"dst": "10.244.1.0/24", "gw": "", "dev": "eth0", "protocol": "kernel", "scope": "link"}
  ],
  "neighbors": null,
  "mtu": 1450,
  "index": 3,
  "vxlan-port": 4789,
  "vxlan-id": 555003,
  "dedicated": false,
  "external-net-via-pod-vm": false
})";

PodNetworkConfig sample() {
  PodNetworkConfig c;
  c.podIp = *Ipv4Prefix::parse("10.244.1.5/24");
  c.podHwAddr = *MacAddress::parse("0a:58:0a:f4:01:05");
  c.interfaceName = "eth0";
  c.workerNodeIp = *Ipv4Prefix::parse("192.168.122.10/24");
  c.routes = {
      Route{std::nullopt, *Ipv4Address::parse("10.244.1.1"), "eth0", RTPROT_BOOT,
            RT_SCOPE_UNIVERSE},
      Route{*Ipv4Prefix::parse("10.244.1.0/24"), std::nullopt, "eth0", RTPROT_KERNEL,
            RT_SCOPE_LINK},
  };
  c.neighbors = {Neighbor{*Ipv4Address::parse("10.244.1.1"),
                          *MacAddress::parse("ee:ee:ee:ee:ee:ee"), "eth0", NUD_PERMANENT}};
  c.mtu = 1450;
  c.index = 3;
  c.vxlanPort = 4789;
  c.vxlanId = 555003;
  c.dedicated = true;
  c.externalNetViaPodVm = true;
  return c;
}

TEST(PodNetworkConfigTest, ReadsWhatUpstreamWrites) {
  auto c = PodNetworkConfig::parse(kUpstreamJson);
  ASSERT_TRUE(c.has_value()) << c.error().toString();
  EXPECT_EQ(c->podIp->toString(), "10.244.1.5/24");
  EXPECT_EQ(c->podHwAddr->toString(), "0a:58:0a:f4:01:05");
  EXPECT_EQ(c->interfaceName, "eth0");
  EXPECT_EQ(c->workerNodeIp->toString(), "192.168.122.10/24");
  ASSERT_EQ(c->routes.size(), 3u);
  EXPECT_FALSE(c->routes[0].dst.has_value());
  EXPECT_EQ(c->routes[0].gw->toString(), "10.244.1.1");
  EXPECT_EQ(c->routes[0].protocol, RTPROT_BOOT);
  EXPECT_EQ(c->routes[0].scope, RT_SCOPE_UNIVERSE);
  EXPECT_EQ(c->routes[1].protocol, RTPROT_STATIC);
  EXPECT_FALSE(c->routes[2].gw.has_value());
  EXPECT_EQ(c->routes[2].scope, RT_SCOPE_LINK);
  EXPECT_TRUE(c->neighbors.empty());
  EXPECT_EQ(c->mtu, 1450);
  EXPECT_EQ(c->index, 3);
  EXPECT_EQ(c->vxlanPort, 4789);
  EXPECT_EQ(c->vxlanId, 555003u);
}

TEST(PodNetworkConfigTest, WritesUpstreamKeysAndFormats) {
  json j = sample().toJson();
  EXPECT_EQ(j["podip"], "10.244.1.5/24");
  EXPECT_EQ(j["pod-hw-addr"], "0a:58:0a:f4:01:05");
  EXPECT_EQ(j["worker-node-ip"], "192.168.122.10/24");
  EXPECT_EQ(j["tunnel-type"], "vxlan");
  EXPECT_EQ(j["routes"][0],
            json::parse(R"({"dst":"","gw":"10.244.1.1","dev":"eth0","protocol":"boot"})"));
  EXPECT_EQ(
      j["routes"][1],
      json::parse(
          R"({"dst":"10.244.1.0/24","gw":"","dev":"eth0","protocol":"kernel","scope":"link"})"));
  EXPECT_EQ(
      j["neighbors"][0],
      json::parse(
          R"({"ip":"10.244.1.1","hw-addr":"ee:ee:ee:ee:ee:ee","dev":"eth0","state":"permanent"})"));
  EXPECT_EQ(j["vxlan-port"], 4789);
  EXPECT_EQ(j["vxlan-id"], 555003);
  EXPECT_EQ(j["dedicated"], true);
  EXPECT_EQ(j["external-net-via-pod-vm"], true);

  // omitempty: zero port and VNI are left out, like Go does.
  PodNetworkConfig empty;
  json e = empty.toJson();
  EXPECT_FALSE(e.contains("vxlan-port"));
  EXPECT_FALSE(e.contains("vxlan-id"));
  EXPECT_EQ(e["podip"], "");
}

TEST(PodNetworkConfigTest, RoundTrips) {
  PodNetworkConfig original = sample();
  auto back = PodNetworkConfig::parse(original.toJsonString());
  ASSERT_TRUE(back.has_value()) << back.error().toString();
  EXPECT_EQ(*back, original);
  auto emptyBack = PodNetworkConfig::parse(PodNetworkConfig{}.toJsonString());
  ASSERT_TRUE(emptyBack.has_value());
  EXPECT_EQ(*emptyBack, PodNetworkConfig{});
}

TEST(PodNetworkConfigTest, AbsentAndNullKeysTakeZeroValuesAndUnknownKeysAreIgnored) {
  auto c = PodNetworkConfig::parse(R"({"interface":"eth0","mtu":null,"future-key":{"x":1}})");
  ASSERT_TRUE(c.has_value()) << c.error().toString();
  EXPECT_EQ(c->interfaceName, "eth0");
  EXPECT_EQ(c->mtu, 0);
  EXPECT_FALSE(c->podIp.has_value());
  EXPECT_TRUE(c->routes.empty());
}

TEST(PodNetworkConfigTest, ZeroLengthRouteDestinationIsTheDefaultRoute) {
  auto c = PodNetworkConfig::parse(R"({"routes":[{"dst":"0.0.0.0/0","gw":"10.0.0.1"}]})");
  ASSERT_TRUE(c.has_value());
  EXPECT_FALSE(c->routes[0].dst.has_value());
}

struct BadCase {
  const char* json;
  const char* mentions;  // the error must name the offending key
};

TEST(PodNetworkConfigTest, RejectsBadInputWithAClearError) {
  const BadCase cases[] = {
      {R"([])", "object"},
      {R"("x")", "object"},
      {R"({"podip": "10.244.1.5"})", "podip"},
      {R"({"podip": "10.244.1.300/24"})", "podip"},
      {R"({"podip": 5})", "podip"},
      {R"({"pod-hw-addr": "0a:58:0a:f4:01"})", "pod-hw-addr"},
      {R"({"worker-node-ip": "fe80::1/64"})", "worker-node-ip"},
      {R"({"interface": ["eth0"]})", "interface"},
      {R"({"mtu": "1500"})", "mtu"},
      {R"({"mtu": 1500.5})", "mtu"},
      {R"({"mtu": -1})", "mtu"},
      {R"({"vxlan-port": 70000})", "vxlan-port"},
      {R"({"vxlan-id": 16777216})", "vxlan-id"},
      {R"({"vxlan-id": 18446744073709551615})", "vxlan-id"},
      {R"({"dedicated": "false"})", "dedicated"},
      {R"({"routes": {}})", "routes"},
      {R"({"routes": [1]})", "routes[0]"},
      {R"({"routes": [{"dst": "10.0.0.0/8", "protocol": "bgp"}]})", "protocol"},
      {R"({"routes": [{"dst": "10.0.0.0/8", "scope": ""}]})", "scope"},
      {R"({"routes": [{}, {"gw": "10.0.0.256"}]})", "routes[1]"},
      {R"({"neighbors": [{"ip": "10.0.0.1", "state": "sleepy"}]})", "state"},
      {R"({"neighbors": [{"ip": "10.0.0.1", "hw-addr": "zz:zz:zz:zz:zz:zz"}]})", "hw-addr"},
  };
  for (const BadCase& bad : cases) {
    auto c = PodNetworkConfig::parse(bad.json);
    ASSERT_FALSE(c.has_value()) << bad.json;
    EXPECT_EQ(c.error().code, Code::kInvalidArgument) << bad.json;
    EXPECT_NE(c.error().message.find(bad.mentions), std::string::npos)
        << bad.json << " -> " << c.error().message;
  }
}

TEST(PodNetworkConfigTest, RejectsMalformedJson) {
  for (const char* text : {"", "{", R"({"podip": })", "null"}) {
    auto c = PodNetworkConfig::parse(text);
    ASSERT_FALSE(c.has_value()) << text;
    EXPECT_EQ(c.error().code, Code::kInvalidArgument);
  }
}

}  // namespace
}  // namespace pp::podnetwork
