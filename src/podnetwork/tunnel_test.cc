// Both sides of the pod tunnel in a testbed of network namespaces (see testbed.h). Needs root;
// skipped with a message otherwise.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <linux/neighbour.h>
#include <unistd.h>

#include <algorithm>

#include "podnetwork/netns.h"
#include "podnetwork/pod_node.h"
#include "podnetwork/testbed.h"
#include "podnetwork/worker_node.h"

namespace pp::podnetwork {
namespace {

using std::chrono::milliseconds;
using testbed::netnsPath;

constexpr milliseconds kTimeout{3000};

class TunnelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "needs root to create network namespaces, VXLAN devices and iptables rules";
    }
    auto vnis = VniAllocator::create(kDefaultVxlanMinId);
    ASSERT_TRUE(vnis.has_value());
    vnis_ = std::move(*vnis);
  }

  // Builds the testbed; the fixture owns it, so it is deleted also when an assertion fails.
  void build(int pods, bool vms) {
    auto tb = testbed::Testbed::create(pods, vms);
    ASSERT_TRUE(tb.has_value()) << tb.error().toString();
    tb_ = std::move(*tb);
    auto before = tb_->snapshot();
    ASSERT_TRUE(before.has_value()) << before.error().toString();
    before_ = *before;
  }

  std::unique_ptr<WorkerNode> workerNode() {
    WorkerNodeOptions options;
    options.hostNetnsPath = netnsPath(tb_->workerNetns());
    auto node = WorkerNode::create(options, *vnis_);
    EXPECT_TRUE(node.has_value()) << node.error().toString();
    return node ? std::move(*node) : nullptr;
  }

  std::unique_ptr<PodNode> podNode(const testbed::PodSite& site) {
    PodNodeOptions options;
    options.hostNetnsPath = netnsPath(site.vmNetns);
    options.waitTimeout = milliseconds(5000);
    options.pollInterval = milliseconds(50);
    auto node = PodNode::create(options);
    EXPECT_TRUE(node.has_value()) << node.error().toString();
    return node ? std::move(*node) : nullptr;
  }

  void expectNothingLeftBehind() {
    auto after = tb_->snapshot();
    ASSERT_TRUE(after.has_value()) << after.error().toString();
    EXPECT_EQ(*after, before_);
  }

  std::unique_ptr<VniAllocator> vnis_;
  std::unique_ptr<testbed::Testbed> tb_;
  std::string before_;
};

TEST_F(TunnelTest, TwoPodsTalkToTheirOwnVmBothWaysAndTearDownCleanly) {
  build(2, /*vms=*/true);
  auto worker = workerNode();
  ASSERT_TRUE(worker);
  const auto& sites = tb_->pods();
  std::vector<PodNetworkConfig> configs;

  for (const testbed::PodSite& site : sites) {
    auto inspected = worker->inspect(netnsPath(site.podNetns));
    ASSERT_TRUE(inspected.has_value()) << inspected.error().toString();
    EXPECT_EQ(inspected->interfaceName, "eth0");
    EXPECT_EQ(inspected->podIp, site.podIp);
    EXPECT_EQ(inspected->mtu, 1450);
    EXPECT_EQ(inspected->workerNodeIp->toString(), "198.18.0.2/24");
    EXPECT_FALSE(inspected->dedicated);
    EXPECT_EQ(inspected->vxlanPort, kDefaultVxlanPort);
    EXPECT_TRUE(std::any_of(
        inspected->routes.begin(), inspected->routes.end(),
        [&](const Route& r) { return !r.dst && r.gw == tb_->gateway() && r.dev == "eth0"; }))
        << inspected->toJsonString();
    ASSERT_EQ(inspected->neighbors.size(), 1u) << inspected->toJsonString();
    EXPECT_EQ(inspected->neighbors[0].ip, tb_->gateway());
    EXPECT_EQ(inspected->neighbors[0].state, NUD_PERMANENT);

    // The config reaches the VM as JSON inside apf.json.
    auto delivered = PodNetworkConfig::parse(inspected->toJsonString());
    ASSERT_TRUE(delivered.has_value()) << delivered.error().toString();
    ASSERT_EQ(*delivered, *inspected);
    configs.push_back(*delivered);

    Ipv4Address vmIp = site.vmIp;
    auto s = worker->setup(netnsPath(site.podNetns), *delivered, std::span(&vmIp, 1));
    ASSERT_TRUE(s.has_value()) << s.error().toString();
    auto vm = podNode(site);
    ASSERT_TRUE(vm);
    s = vm->setup(*delivered, netnsPath(site.vmPodNetns));
    ASSERT_TRUE(s.has_value()) << s.error().toString();
  }
  EXPECT_NE(configs[0].vxlanId, configs[1].vxlanId);

  // While the tunnels are up the NOTRACK rules and the redirects are in place.
  auto rules = testbed::runIn(tb_->workerNetns(), {"/usr/sbin/iptables", "-w", "-t", "raw", "-S"});
  ASSERT_TRUE(rules.has_value());
  for (const auto& c : configs) {
    EXPECT_NE(rules->find(fmt::format("peerpod [vni:{}]", c.vxlanId)), std::string::npos) << *rules;
  }
  EXPECT_NE(rules->find("-A OUTPUT -j peerpod-OUTPUT"), std::string::npos) << *rules;
  EXPECT_NE(rules->find("-A PREROUTING -j peerpod-PREROUTING"), std::string::npos) << *rules;
  auto qdiscs = testbed::runIn(sites[0].podNetns, {"/usr/sbin/tc", "qdisc", "show"});
  ASSERT_TRUE(qdiscs.has_value());
  EXPECT_NE(qdiscs->find("qdisc ingress ffff: dev eth0"), std::string::npos) << *qdiscs;
  EXPECT_NE(qdiscs->find("qdisc ingress ffff: dev vxlan1"), std::string::npos) << *qdiscs;
  auto vmLink = testbed::runIn(sites[0].vmPodNetns, {"/usr/sbin/ip", "-d", "link", "show", "eth0"});
  ASSERT_TRUE(vmLink.has_value());
  EXPECT_NE(vmLink->find("mtu 1450"), std::string::npos) << *vmLink;
  EXPECT_NE(vmLink->find(configs[0].podHwAddr->toString()), std::string::npos) << *vmLink;
  EXPECT_NE(vmLink->find(fmt::format("vxlan id {}", configs[0].vxlanId)), std::string::npos);

  // Servers on each side of each tunnel, each answering with who it is.
  std::vector<std::unique_ptr<testbed::TcpResponder>> servers;
  for (size_t i = 0; i < sites.size(); ++i) {
    auto inVm = testbed::TcpResponder::start(sites[i].vmPodNetns, sites[i].podIp.address, 8080,
                                             fmt::format("vm{}", i + 1));
    ASSERT_TRUE(inVm.has_value()) << inVm.error().toString();
    servers.push_back(std::move(*inVm));
  }
  auto onNode = testbed::TcpResponder::start(tb_->workerNetns(), tb_->gateway(), 8081, "node");
  ASSERT_TRUE(onNode.has_value()) << onNode.error().toString();

  for (size_t i = 0; i < sites.size(); ++i) {
    const auto& site = sites[i];
    // Node side -> pod IP lands in this pod's VM, and only there.
    auto reply = testbed::tcpFetch(tb_->workerNetns(), site.podIp.address, 8080, kTimeout);
    ASSERT_TRUE(reply.has_value()) << reply.error().toString();
    EXPECT_EQ(*reply, fmt::format("vm{}", i + 1));
    auto pinged = testbed::ping(tb_->workerNetns(), site.podIp.address, kTimeout);
    EXPECT_TRUE(pinged.has_value()) << pinged.error().toString();
    // VM's pod namespace -> the pod's gateway on the node, through the tunnel.
    reply = testbed::tcpFetch(site.vmPodNetns, tb_->gateway(), 8081, kTimeout);
    ASSERT_TRUE(reply.has_value()) << reply.error().toString();
    EXPECT_EQ(*reply, "node");
    pinged = testbed::ping(site.vmPodNetns, tb_->gateway(), kTimeout);
    EXPECT_TRUE(pinged.has_value()) << pinged.error().toString();
  }
  // Pod to pod: VM 1's pod reaches pod 2's address, which is served by VM 2, not by itself.
  auto across = testbed::tcpFetch(sites[0].vmPodNetns, sites[1].podIp.address, 8080, kTimeout);
  ASSERT_TRUE(across.has_value()) << across.error().toString();
  EXPECT_EQ(*across, "vm2");
  servers.clear();
  onNode->reset();

  for (size_t i = 0; i < sites.size(); ++i) {
    auto vm = podNode(sites[i]);
    ASSERT_TRUE(vm);
    auto s = vm->teardown(configs[i], netnsPath(sites[i].vmPodNetns));
    EXPECT_TRUE(s.has_value()) << s.error().toString();
    s = worker->teardown(netnsPath(sites[i].podNetns), configs[i]);
    EXPECT_TRUE(s.has_value()) << s.error().toString();
    EXPECT_FALSE(vnis_->inUse(configs[i].vxlanId));
  }
  expectNothingLeftBehind();
  // Teardown again: nothing to do, and no error.
  for (size_t i = 0; i < sites.size(); ++i) {
    auto vm = podNode(sites[i]);
    ASSERT_TRUE(vm);
    EXPECT_TRUE(vm->teardown(configs[i], netnsPath(sites[i].vmPodNetns)).has_value());
    EXPECT_TRUE(worker->teardown(netnsPath(sites[i].podNetns), configs[i]).has_value());
  }
  expectNothingLeftBehind();
}

TEST_F(TunnelTest, MoreThanFiveTunnelsOnOneNode) {
  constexpr int kPods = 8;  // upstream stops at ppvxlan5
  build(kPods, /*vms=*/false);
  auto worker = workerNode();
  ASSERT_TRUE(worker);
  std::vector<PodNetworkConfig> configs;
  for (int i = 0; i < kPods; ++i) {
    const auto& site = tb_->pods()[static_cast<size_t>(i)];
    auto config = worker->inspect(netnsPath(site.podNetns));
    ASSERT_TRUE(config.has_value()) << config.error().toString();
    Ipv4Address vm{Ipv4Address::parse("198.18.0.100")->value + static_cast<uint32_t>(i)};
    auto s = worker->setup(netnsPath(site.podNetns), *config, std::span(&vm, 1));
    ASSERT_TRUE(s.has_value()) << "pod " << i + 1 << ": " << s.error().toString();
    configs.push_back(*config);
  }
  for (int i = 0; i < kPods; ++i) {
    const auto& site = tb_->pods()[static_cast<size_t>(i)];
    auto link = testbed::runIn(site.podNetns, {"/usr/sbin/ip", "-d", "link", "show", "vxlan1"});
    ASSERT_TRUE(link.has_value()) << link.error().toString();
    EXPECT_NE(
        link->find(fmt::format("vxlan id {} remote 198.18.0.{}", configs[i].vxlanId, 100 + i)),
        std::string::npos)
        << *link;
  }
  // Nothing of the tunnels is visible as a device in the node's own namespace.
  auto hostLinks =
      testbed::runIn(tb_->workerNetns(), {"/usr/sbin/ip", "-o", "link", "show", "type", "vxlan"});
  ASSERT_TRUE(hostLinks.has_value());
  EXPECT_EQ(*hostLinks, "");
  for (int i = 0; i < kPods; ++i) {
    auto s = worker->teardown(netnsPath(tb_->pods()[static_cast<size_t>(i)].podNetns), configs[i]);
    EXPECT_TRUE(s.has_value()) << s.error().toString();
  }
  EXPECT_EQ(vnis_->inUseCount(), 0u);
  expectNothingLeftBehind();
}

TEST_F(TunnelTest, TeardownAfterThePodNamespaceIsGoneRemovesTheRules) {
  build(1, /*vms=*/false);
  auto worker = workerNode();
  ASSERT_TRUE(worker);
  const auto& site = tb_->pods()[0];
  auto config = worker->inspect(netnsPath(site.podNetns));
  ASSERT_TRUE(config.has_value()) << config.error().toString();
  Ipv4Address vm = site.vmIp;
  ASSERT_TRUE(worker->setup(netnsPath(site.podNetns), *config, std::span(&vm, 1)).has_value());
  std::string podNetns = netnsPath(site.podNetns);
  ASSERT_TRUE(tb_->deletePodNetns(0).has_value());
  before_ = *tb_->snapshot();  // the pod namespace is no longer part of the comparison
  auto s = worker->teardown(podNetns, *config);
  ASSERT_TRUE(s.has_value()) << s.error().toString();
  auto rules = testbed::runIn(tb_->workerNetns(), {"/usr/sbin/iptables", "-w", "-t", "raw", "-S"});
  ASSERT_TRUE(rules.has_value());
  EXPECT_EQ(rules->find("peerpod"), std::string::npos) << *rules;
}

TEST_F(TunnelTest, FailedSetupLeavesNothingBehind) {
  build(1, /*vms=*/false);
  auto worker = workerNode();
  ASSERT_TRUE(worker);
  const auto& site = tb_->pods()[0];
  auto config = worker->inspect(netnsPath(site.podNetns));
  ASSERT_TRUE(config.has_value()) << config.error().toString();
  config->interfaceName = "nosuch0";  // the redirect cannot be attached
  Ipv4Address vm = site.vmIp;
  auto s = worker->setup(netnsPath(site.podNetns), *config, std::span(&vm, 1));
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().message.find("nosuch0"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find(site.podNetns), std::string::npos) << s.error().message;
  expectNothingLeftBehind();
}

TEST_F(TunnelTest, VmSideWaitsForTheUnderlayAndGivesUp) {
  build(1, /*vms=*/true);
  const auto& site = tb_->pods()[0];
  // Take the VM's default route away: there is no primary interface to find.
  ASSERT_TRUE(
      testbed::runIn(site.vmNetns, {"/usr/sbin/ip", "route", "del", "default"}).has_value());
  PodNodeOptions options;
  options.hostNetnsPath = netnsPath(site.vmNetns);
  options.waitTimeout = milliseconds(300);
  options.pollInterval = milliseconds(50);
  auto vm = PodNode::create(options);
  ASSERT_TRUE(vm.has_value());
  PodNetworkConfig config;
  config.interfaceName = "eth0";
  config.podIp = site.podIp;
  config.podHwAddr = *MacAddress::parse("02:00:00:00:00:01");
  config.workerNodeIp = *Ipv4Prefix::parse("198.18.0.2/24");
  config.vxlanPort = kDefaultVxlanPort;
  config.vxlanId = 555123;
  auto start = std::chrono::steady_clock::now();
  auto s = (*vm)->setup(config, netnsPath(site.vmPodNetns));
  ASSERT_FALSE(s.has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(300));
  EXPECT_NE(s.error().message.find("primary interface"), std::string::npos) << s.error().message;
  ASSERT_TRUE(
      testbed::runIn(site.vmNetns, {"/usr/sbin/ip", "route", "add", "default", "via", "198.18.0.1"})
          .has_value());
  expectNothingLeftBehind();
}

}  // namespace
}  // namespace pp::podnetwork
