// Node side of the tunnel. Per pod, inside the pod's namespace:
//
//   eth0 (CNI veth, pod IP) --tc ingress: mirred redirect--> vxlan1 --UDP in host netns--> VM
//   eth0 <--tc ingress: mirred redirect-- vxlan1 <--
//
// vxlan1 is created with IFLA_NET_NS_FD straight into the pod namespace from a socket in the host
// namespace: the kernel binds the device's UDP socket to the namespace of the request and puts
// the device in the target one. Upstream creates `ppvxlanN` in the host namespace and moves it,
// which needs a free host name (it gives up after ppvxlan5) and briefly exposes the device on the
// host; here there is no host-side name at all, so the number of tunnels is bounded only by VNIs.
#include "podnetwork/worker_node.h"

#include <fmt/format.h>
#include <linux/rtnetlink.h>

#include <thread>
#include <utility>

#include "base/log.h"
#include "podnetwork/iptables.h"
#include "podnetwork/netlink.h"
#include "podnetwork/netns.h"
#include "podnetwork/primary_interface.h"

namespace pp::podnetwork {
namespace {

constexpr const char* kLog = "podnetwork";

// Routes upstream copies to the VM: what a CNI plugin, DHCP or the kernel installed.
bool copiedProtocol(uint8_t protocol) {
  return protocol == RTPROT_STATIC || protocol == RTPROT_BOOT || protocol == RTPROT_DHCP ||
         protocol == RTPROT_KERNEL;
}

class VxlanWorkerNode final : public WorkerNode {
 public:
  VxlanWorkerNode(WorkerNodeOptions options, std::vector<Ipv4Prefix> podSubnets, Netns hostNs,
                  VniAllocator& vnis)
      : options_(std::move(options)),
        podSubnets_(std::move(podSubnets)),
        hostNs_(std::move(hostNs)),
        vnis_(vnis),
        rules_(options_.iptablesPath) {}

  Result<PodNetworkConfig> inspect(const std::string& podNetnsPath) override;
  Status setup(const std::string& podNetnsPath, const PodNetworkConfig& config,
               std::span<const Ipv4Address> vmIps) override;
  Status teardown(const std::string& podNetnsPath, const PodNetworkConfig& config) override;

 private:
  Result<PodNetworkConfig> inspectPod(const std::string& podNetnsPath);
  Status addRules(Ipv4Address remote, int port, uint32_t vni);
  Status removeRules(uint32_t vni);

  const WorkerNodeOptions options_;
  const std::vector<Ipv4Prefix> podSubnets_;
  const Netns hostNs_;
  VniAllocator& vnis_;
  const NotrackRules rules_;
};

Result<PodNetworkConfig> VxlanWorkerNode::inspect(const std::string& podNetnsPath) {
  auto config = inspectPod(podNetnsPath);
  if (!config)
    return fail(config.error().wrap(fmt::format("inspecting pod netns {}", podNetnsPath)));
  auto vni = vnis_.allocate();
  if (!vni) return fail(vni.error());
  config->vxlanId = *vni;
  config->index = static_cast<int>(*vni - vnis_.minId());
  config->vxlanPort = options_.vxlanPort;
  log::info(kLog, "pod netns {}: interface {} ip {} mtu {}, {} routes, {} neighbours, vni {}",
            podNetnsPath, config->interfaceName, config->podIp->toString(), config->mtu,
            config->routes.size(), config->neighbors.size(), *vni);
  return config;
}

Result<PodNetworkConfig> VxlanWorkerNode::inspectPod(const std::string& podNetnsPath) {
  PodNetworkConfig config;
  config.tunnelType = options_.tunnelType;
  config.externalNetViaPodVm = options_.externalNetViaPodVm;

  // Host: primary interface and the worker IP the VM will send its tunnel packets to.
  auto host = netlink::RouteSocket::open(hostNs_);
  if (!host) return fail(host.error());
  auto hostPrimary = findPrimaryInterface(*host);
  if (!hostPrimary) return fail(hostPrimary.error().wrap("finding the host primary interface"));
  std::string hostInterface = options_.hostInterface;
  if (hostInterface.empty()) {
    hostInterface = hostPrimary->name;
  } else if (hostInterface != hostPrimary->name) {
    config.dedicated = true;
  }
  auto hostLink = host->link(hostInterface);
  if (!hostLink) return fail(hostLink.error());
  auto hostAddresses = host->ipv4Addresses(hostLink->index);
  if (!hostAddresses) return fail(hostAddresses.error());
  if (hostAddresses->empty()) {
    return fail(Code::kFailedPrecondition,
                fmt::format("host interface {} has no IPv4 address", hostInterface));
  }
  if (hostAddresses->size() > 1) {
    log::warn(kLog, "host interface {} has {} IPv4 addresses; using the first, {}", hostInterface,
              hostAddresses->size(), hostAddresses->front().toString());
  }
  config.workerNodeIp = hostAddresses->front();

  // Pod: its primary interface and everything the VM must rebuild.
  auto podNs = Netns::open(podNetnsPath);
  if (!podNs) return fail(podNs.error());
  auto pod = netlink::RouteSocket::open(*podNs);
  if (!pod) return fail(pod.error());
  auto podPrimary = findPrimaryInterface(*pod);
  if (!podPrimary) return fail(podPrimary.error().wrap("finding the pod interface"));
  auto podLink = pod->link(podPrimary->name);
  if (!podLink) return fail(podLink.error());
  auto podAddresses = pod->ipv4Addresses(podLink->index);
  if (!podAddresses) return fail(podAddresses.error());
  if (podAddresses->size() != 1) {
    return fail(Code::kFailedPrecondition,
                fmt::format("pod interface {} has {} IPv4 addresses, expected exactly one",
                            podLink->name, podAddresses->size()));
  }
  if (!podLink->mac) {
    return fail(Code::kFailedPrecondition,
                fmt::format("pod interface {} has no MAC address", podLink->name));
  }
  config.podIp = podAddresses->front();
  config.podHwAddr = podLink->mac;
  config.interfaceName = podLink->name;
  config.mtu = podLink->mtu;

  auto routes = pod->routes();
  if (!routes) return fail(routes.error());
  for (const netlink::RouteEntry& entry : *routes) {
    if (copiedProtocol(entry.route.protocol)) config.routes.push_back(entry.route);
  }
  for (const Ipv4Prefix& subnet : podSubnets_) {
    config.routes.push_back(Route{subnet, podPrimary->gateway, podLink->name, 0, 0});
  }
  auto neighbors = pod->permanentNeighbors(podLink->index, podLink->name);
  if (!neighbors) return fail(neighbors.error());
  config.neighbors = std::move(*neighbors);
  return config;
}

Status VxlanWorkerNode::addRules(Ipv4Address remote, int port, uint32_t vni) {
  auto scope = NetnsScope::enter(hostNs_);
  if (!scope) return fail(scope.error());
  return rules_.add(remote, port, vni);
}

Status VxlanWorkerNode::removeRules(uint32_t vni) {
  auto scope = NetnsScope::enter(hostNs_);
  if (!scope) return fail(scope.error());
  return rules_.remove(vni);
}

Status VxlanWorkerNode::setup(const std::string& podNetnsPath, const PodNetworkConfig& config,
                              std::span<const Ipv4Address> vmIps) {
  auto context = [&](const Error& e) {
    return e.wrap(fmt::format("setting up the tunnel of pod netns {}", podNetnsPath));
  };
  if (config.tunnelType != kTunnelTypeVxlan) {
    return fail(context(Error(Code::kInvalidArgument,
                              fmt::format("unknown tunnel type \"{}\"", config.tunnelType))));
  }
  if (config.interfaceName.empty() || config.vxlanPort <= 0 || config.vxlanPort > 65535) {
    return fail(
        context(Error(Code::kInvalidArgument, "the config has no pod interface or no vxlan port")));
  }
  size_t needed = config.dedicated ? 2 : 1;
  if (vmIps.size() < needed) {
    return fail(context(Error(
        Code::kInvalidArgument,
        fmt::format("the VM has {} IP addresses, the tunnel needs {}", vmIps.size(), needed))));
  }
  const Ipv4Address remote = vmIps[needed - 1];
  const uint32_t vni = config.vxlanId;

  auto podNs = Netns::open(podNetnsPath);
  if (!podNs) return fail(context(podNs.error()));
  auto host = netlink::RouteSocket::open(hostNs_);
  if (!host) return fail(context(host.error()));
  auto pod = netlink::RouteSocket::open(*podNs);
  if (!pod) return fail(context(pod.error()));

  if (auto s = addRules(remote, config.vxlanPort, vni); !s) return fail(context(s.error()));

  bool deviceCreated = false;
  auto work = [&]() -> Status {
    netlink::VxlanSpec spec;
    spec.name = std::string(kWorkerTunnelInterface);
    spec.vni = vni;
    spec.remote = remote;
    spec.port = config.vxlanPort;
    spec.targetNetnsFd = podNs->fd();
    spec.up = true;
    if (auto s = host->addVxlan(spec); !s) return s;
    deviceCreated = true;
    auto podLink = pod->link(config.interfaceName);
    if (!podLink) return fail(podLink.error());
    auto tunnelLink = pod->link(spec.name);
    if (!tunnelLink) return fail(tunnelLink.error());
    if (auto s = pod->addRedirect(*podLink, *tunnelLink); !s) return s;
    return pod->addRedirect(*tunnelLink, *podLink);
  };
  Status status = work();
  if (!status) {
    // Leave nothing half-built: a retried StartVM must find a clean namespace.
    if (auto podLink = pod->findLink(config.interfaceName); podLink && *podLink) {
      (void)pod->deleteIngressQdisc(**podLink);
    }
    if (deviceCreated) (void)pod->deleteLink(std::string(kWorkerTunnelInterface));
    if (auto s = removeRules(vni); !s) log::warn(kLog, "{}", s.error().message);
    return fail(context(status.error()));
  }
  log::info(kLog, "pod netns {}: {} <-> {} vni {} remote {}:{}", podNetnsPath, config.interfaceName,
            kWorkerTunnelInterface, vni, remote.toString(), config.vxlanPort);
  return {};
}

Status VxlanWorkerNode::teardown(const std::string& podNetnsPath, const PodNetworkConfig& config) {
  auto context = [&](const Error& e) {
    return e.wrap(fmt::format("tearing down the tunnel of pod netns {}", podNetnsPath));
  };
  const std::string tunnel(kWorkerTunnelInterface);
  std::optional<netlink::RouteSocket> pod;
  std::optional<netlink::LinkInfo> podLink, tunnelLink;
  std::optional<uint32_t> deviceVni;

  // First read what is there; nothing is changed until everything needed is known.
  auto podNs = Netns::open(podNetnsPath);
  if (!podNs && podNs.error().code != Code::kNotFound) return fail(context(podNs.error()));
  if (podNs) {
    auto socket = netlink::RouteSocket::open(*podNs);
    if (!socket) return fail(context(socket.error()));
    pod.emplace(std::move(*socket));
    if (!config.interfaceName.empty()) {
      auto found = pod->findLink(config.interfaceName);
      if (!found) return fail(context(found.error()));
      podLink = *found;
    }
    auto found = pod->findLink(tunnel);
    if (!found) return fail(context(found.error()));
    tunnelLink = *found;
    if (tunnelLink) {
      auto info = pod->vxlanInfo(tunnel);
      if (!info) return fail(context(info.error()));
      if (!*info) {
        return fail(context(
            Error(Code::kFailedPrecondition, fmt::format("{} is not a vxlan interface", tunnel))));
      }
      deviceVni = (*info)->vni;
      log::info(kLog, "pod netns {}: deleting {} (vni {}, remote {}:{})", podNetnsPath, tunnel,
                (*info)->vni, (*info)->remote ? (*info)->remote->toString() : std::string("-"),
                (*info)->port);
    }
  } else {
    // The pod's namespace is already gone and the kernel deleted vxlan1 with it; the rules in the
    // host namespace are still ours to remove.
    log::info(kLog, "pod netns {} is gone; removing what is left in the host namespace",
              podNetnsPath);
  }
  if (deviceVni && config.vxlanId != 0 && *deviceVni != config.vxlanId) {
    log::warn(kLog, "pod netns {}: {} carries vni {} but the sandbox recorded {}", podNetnsPath,
              tunnel, *deviceVni, config.vxlanId);
  }
  std::vector<uint32_t> ruleVnis;
  if (deviceVni) ruleVnis.push_back(*deviceVni);
  if (config.vxlanId != 0 && config.vxlanId != deviceVni.value_or(0)) {
    ruleVnis.push_back(config.vxlanId);
  }

  // The rules (two iptables runs) and the device (whose deletion waits for an RCU grace period
  // in the kernel) are independent: remove them at the same time.
  Status rulesStatus;
  std::thread rulesThread([&] {
    for (uint32_t vni : ruleVnis) {
      rulesStatus = removeRules(vni);
      if (!rulesStatus) return;
    }
  });
  Status linkStatus;
  if (pod && podLink) linkStatus = pod->deleteIngressQdisc(*podLink);
  if (linkStatus && pod && tunnelLink) linkStatus = pod->deleteLink(tunnel);
  rulesThread.join();
  if (!linkStatus) return fail(context(linkStatus.error()));
  if (!rulesStatus) return fail(context(rulesStatus.error()));
  if (config.vxlanId != 0) vnis_.release(config.vxlanId);
  return {};
}

}  // namespace

Result<std::unique_ptr<WorkerNode>> WorkerNode::create(WorkerNodeOptions options,
                                                       VniAllocator& vnis) {
  if (options.tunnelType != kTunnelTypeVxlan) {
    return fail(Code::kInvalidArgument,
                fmt::format("unknown tunnel type \"{}\" (only vxlan exists)", options.tunnelType));
  }
  if (options.vxlanPort <= 0 || options.vxlanPort > 65535) {
    return fail(Code::kInvalidArgument,
                fmt::format("vxlan port {} is not between 1 and 65535", options.vxlanPort));
  }
  // Upstream logs and skips a malformed -pod-subnet-cidrs entry on every pod; a typo in a flag is
  // better reported once, at start.
  std::vector<Ipv4Prefix> subnets;
  for (const std::string& cidr : options.podSubnetCidrs) {
    auto prefix = Ipv4Prefix::parse(cidr);
    if (!prefix) return fail(prefix.error().wrap("-pod-subnet-cidrs"));
    subnets.push_back(prefix->masked());
  }
  auto hostNs = Netns::open(options.hostNetnsPath);
  if (!hostNs) return fail(hostNs.error().wrap("opening the host network namespace"));
  return std::unique_ptr<WorkerNode>(
      new VxlanWorkerNode(std::move(options), std::move(subnets), std::move(*hostNs), vnis));
}

}  // namespace pp::podnetwork
