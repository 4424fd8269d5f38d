// VM side of the tunnel: the pod's interface is rebuilt in the VM's pod namespace as a VXLAN
// device towards the worker, carrying the name, MAC and IP the pod has on the worker, so the
// containers see the same network they would see on the node.
#include "podnetwork/pod_node.h"

#include <fmt/format.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <unistd.h>

#include <functional>
#include <mutex>
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

// Interfaces never taken as the external NIC (upstream's list).
constexpr std::string_view kVirtualPrefixes[] = {"veth", "lo",   "docker", "podman", "br-",
                                                 "cni",  "tunl", "tun",    "tap"};

bool isVirtual(const std::string& name) {
  for (std::string_view prefix : kVirtualPrefixes) {
    if (name.starts_with(prefix)) return true;
  }
  return false;
}

class VxlanPodNode final : public PodNode {
 public:
  VxlanPodNode(PodNodeOptions options, Netns hostNs)
      : options_(std::move(options)), hostNs_(std::move(hostNs)), rules_(options_.iptablesPath) {}

  Status setup(const PodNetworkConfig& config, const std::string& podNamespacePath) override;
  Status teardown(const PodNetworkConfig& config, const std::string& podNamespacePath) override;

 private:
  struct Underlay {
    std::string primary;
    netlink::LinkInfo link;  // the interface the tunnel runs over
  };
  Result<Underlay> waitForUnderlay(bool dedicated);
  Result<Ipv4Address> waitForAddress(const std::string& ifname);
  Status buildPodInterface(const PodNetworkConfig& config, const Netns& podNs,
                           netlink::RouteSocket& host, netlink::RouteSocket& pod, int mtu);
  Status setupExternalNetwork(const std::string& hostPrimary, const Netns& podNs,
                              netlink::RouteSocket& host, netlink::RouteSocket& pod);
  Status withHostNs(const std::function<Status()>& fn);
  // The NOTRACK rules keep connection tracking off the tunnel's packets. A minimal pod VM image
  // without iptables has no netfilter rules at all, so nothing tracks them: skip, with a warning.
  bool haveIptables() const;

  const PodNodeOptions options_;
  const Netns hostNs_;
  const NotrackRules rules_;
};

bool VxlanPodNode::haveIptables() const {
  if (::access(options_.iptablesPath.c_str(), X_OK) == 0) return true;
  static std::once_flag warned;
  std::call_once(warned, [&] {
    log::warn(kLog,
              "{} not found: no NOTRACK rules for the tunnel (this image has no netfilter rules)",
              options_.iptablesPath);
  });
  return false;
}

Status VxlanPodNode::withHostNs(const std::function<Status()>& fn) {
  auto scope = NetnsScope::enter(hostNs_);
  if (!scope) return fail(scope.error());
  return fn();
}

// Polls until `probe` succeeds or the wait times out; returns the last error on timeout.
template <typename T, typename F>
Result<T> poll(const PodNodeOptions& options, F&& probe) {
  auto deadline = std::chrono::steady_clock::now() + options.waitTimeout;
  while (true) {
    Result<T> result = probe();
    if (result || result.error().code != Code::kUnavailable ||
        std::chrono::steady_clock::now() >= deadline) {
      return result;
    }
    std::this_thread::sleep_for(options.pollInterval);
  }
}

Result<VxlanPodNode::Underlay> VxlanPodNode::waitForUnderlay(bool dedicated) {
  bool waitLogged = false;
  auto primary = poll<PrimaryInterface>(options_, [&]() -> Result<PrimaryInterface> {
    auto host = netlink::RouteSocket::open(hostNs_);
    if (!host) return fail(host.error());
    auto found = findPrimaryInterface(*host);
    if (!found && found.error().code == Code::kNotFound) {
      if (!waitLogged) {
        log::info(kLog, "waiting up to {} s for the VM's primary interface: {}",
                  std::chrono::duration_cast<std::chrono::seconds>(options_.waitTimeout).count(),
                  found.error().message);
        waitLogged = true;
      }
      return fail(Code::kUnavailable, found.error().message);  // not yet: keep waiting
    }
    return found;
  });
  if (!primary) return fail(primary.error().wrap("waiting for the VM's primary interface"));
  log::info(kLog, "VM primary interface: {}", primary->name);
  auto primaryIp = waitForAddress(primary->name);
  if (!primaryIp) return fail(primaryIp.error());

  std::string tunnelInterface =
      options_.hostInterface.empty() ? primary->name : options_.hostInterface;
  if (dedicated) {
    if (tunnelInterface == primary->name) {
      return fail(Code::kFailedPrecondition,
                  fmt::format("{} is not a dedicated interface: it is the primary one, but the pod "
                              "network was set up for a dedicated interface",
                              tunnelInterface));
    }
    auto dedicatedIp = waitForAddress(tunnelInterface);
    if (!dedicatedIp) return fail(dedicatedIp.error());
  }
  auto host = netlink::RouteSocket::open(hostNs_);
  if (!host) return fail(host.error());
  auto link = host->link(tunnelInterface);
  if (!link) return fail(link.error());
  return Underlay{primary->name, *link};
}

Result<Ipv4Address> VxlanPodNode::waitForAddress(const std::string& ifname) {
  auto address = poll<Ipv4Address>(options_, [&]() -> Result<Ipv4Address> {
    auto host = netlink::RouteSocket::open(hostNs_);
    if (!host) return fail(host.error());
    auto link = host->link(ifname);
    if (!link) return fail(link.error());
    auto addresses = host->ipv4Addresses(link->index);
    if (!addresses) return fail(addresses.error());
    if (addresses->empty()) {
      return fail(Code::kUnavailable, fmt::format("{} has no IPv4 address yet", ifname));
    }
    if (addresses->size() > 1) {
      return fail(Code::kFailedPrecondition,
                  fmt::format("more than one IPv4 address on {}", ifname));
    }
    return addresses->front().address;
  });
  if (!address)
    return fail(address.error().wrap(fmt::format("waiting for the address of {}", ifname)));
  return address;
}

Status VxlanPodNode::setup(const PodNetworkConfig& config, const std::string& podNamespacePath) {
  auto context = [&](const Error& e) {
    return e.wrap(fmt::format("setting up the pod network in {}", podNamespacePath));
  };
  if (config.tunnelType != kTunnelTypeVxlan) {
    return fail(context(Error(Code::kInvalidArgument,
                              fmt::format("unknown tunnel type \"{}\"", config.tunnelType))));
  }
  if (config.interfaceName.empty() || !config.podIp || !config.workerNodeIp || !config.podHwAddr ||
      config.vxlanPort <= 0) {
    return fail(context(Error(Code::kInvalidArgument,
                              "the config lacks the interface, podip, pod-hw-addr, "
                              "worker-node-ip or vxlan-port")));
  }
  auto underlay = waitForUnderlay(config.dedicated);
  if (!underlay) return fail(context(underlay.error()));
  const int mtu = tunnelMtu(config.mtu, underlay->link.mtu);

  auto podNs = Netns::open(podNamespacePath);
  if (!podNs) return fail(context(podNs.error()));
  auto host = netlink::RouteSocket::open(hostNs_);
  if (!host) return fail(context(host.error()));
  auto pod = netlink::RouteSocket::open(*podNs);
  if (!pod) return fail(context(pod.error()));

  const Ipv4Address worker = config.workerNodeIp->address;
  const bool rules = haveIptables();
  if (auto s =
          rules ? withHostNs([&] { return rules_.add(worker, config.vxlanPort, config.vxlanId); })
                : Status{};
      !s) {
    return fail(context(s.error()));
  }
  if (auto s = buildPodInterface(config, *podNs, *host, *pod, mtu); !s) {
    // Clean up so that the forwarder, restarted by systemd, starts from an empty namespace.
    (void)pod->deleteLink(config.interfaceName);
    (void)pod->deleteLink("vxlan0");  // left under its temporary name if the rename failed
    if (auto r = rules ? withHostNs([&] { return rules_.remove(config.vxlanId); }) : Status{}; !r) {
      log::warn(kLog, "{}", r.error().message);
    }
    return fail(context(s.error()));
  }
  log::info(kLog, "pod network in {}: {} {} mtu {} via vxlan vni {} to {}:{} over {}",
            podNamespacePath, config.interfaceName, config.podIp->toString(), mtu, config.vxlanId,
            worker.toString(), config.vxlanPort, underlay->link.name);

  if (config.externalNetViaPodVm) {
    // Best effort, as upstream: the pod still works without external access through the VM.
    if (auto s = setupExternalNetwork(underlay->primary, *podNs, *host, *pod); !s) {
      log::warn(kLog, "external network via the pod VM not set up: {}", s.error().message);
    }
  }
  return {};
}

Status VxlanPodNode::buildPodInterface(const PodNetworkConfig& config, const Netns& podNs,
                                       netlink::RouteSocket& host, netlink::RouteSocket& pod,
                                       int mtu) {
  // Created straight into the pod namespace, but under a temporary name (upstream's vxlan0):
  // before Linux 6.x, the kernel looks a new link's name up in the namespace of the request
  // too, and the VM's own interface there usually has the pod's name (eth0).
  netlink::VxlanSpec spec;
  spec.name = "vxlan0";
  spec.vni = config.vxlanId;
  spec.remote = config.workerNodeIp->address;
  spec.port = config.vxlanPort;
  spec.targetNetnsFd = podNs.fd();
  spec.mac = config.podHwAddr;
  spec.mtu = mtu;
  spec.up = false;
  if (auto s = host.addVxlan(spec); !s) return s;
  auto created = pod.link(spec.name);
  if (!created) return fail(created.error());
  if (spec.name != config.interfaceName) {
    if (auto s = pod.renameLink(*created, config.interfaceName); !s) return s;
  }
  auto link = pod.link(config.interfaceName);
  if (!link) return fail(link.error());
  if (auto s = pod.setLinkUp(*link); !s) return s;
  if (auto s = pod.addAddress(link->index, link->name, *config.podIp); !s) return s;

  if (config.podIp->length != 32) {
    // The kernel added a route for the pod's subnet with the address. PTP-style CNIs (and GKE)
    // do not have that route, and adding their routes would clash with it; for the others it is
    // among the routes copied from the worker and comes back below.
    if (auto s = pod.deleteRoutesTo(config.podIp->masked(), link->index); !s) return s;
  }
  // Gateway-less routes first: a route via a gateway is refused until the gateway is reachable
  // (Calico's pattern: a link route to the gateway, then the default route through it).
  for (bool withGateway : {false, true}) {
    for (const Route& route : config.routes) {
      if (route.gw.has_value() != withGateway) continue;
      if (auto s = pod.addRoute(route); !s) return s;
    }
  }
  for (const Neighbor& neighbor : config.neighbors) {
    if (auto s = pod.addNeighbor(neighbor); !s) return s;
  }
  return {};
}

// Moves the VM's secondary NIC into the pod namespace so the pod reaches external networks
// directly through the VM (upstream common.go).
Status VxlanPodNode::setupExternalNetwork(const std::string& hostPrimary, const Netns& podNs,
                                          netlink::RouteSocket& host, netlink::RouteSocket& pod) {
  auto links = host.links();
  if (!links) return fail(links.error());
  auto routes = host.routes();
  if (!routes) return fail(routes.error());
  auto defaultRouteOf = [&](int ifindex) -> const netlink::RouteEntry* {
    for (const auto& entry : *routes) {
      if (!entry.route.dst && entry.ifindex == ifindex) return &entry;
    }
    return nullptr;
  };
  auto primaryLink = host.link(hostPrimary);
  if (!primaryLink) return fail(primaryLink.error());
  auto primaryAddresses = host.ipv4Addresses(primaryLink->index);
  if (!primaryAddresses) return fail(primaryAddresses.error());

  for (const netlink::LinkInfo& candidate : *links) {
    if (candidate.name == hostPrimary || isVirtual(candidate.name)) {
      continue;
    }
    auto addresses = host.ipv4Addresses(candidate.index);
    if (!addresses) return fail(addresses.error());
    if (addresses->empty()) continue;
    const Ipv4Prefix address = addresses->front();
    Route defaultRoute{std::nullopt, std::nullopt, candidate.name, 0, 0};
    if (const auto* own = defaultRouteOf(candidate.index)) {
      defaultRoute.gw = own->route.gw;
    } else {
      // No default route of its own: accept a NIC on the primary's subnet and route through the
      // primary's gateway. (Upstream compares only the prefix lengths here.)
      const auto* primaryDefault = defaultRouteOf(primaryLink->index);
      bool sameSubnet =
          !primaryAddresses->empty() && primaryAddresses->front().masked() == address.masked();
      if (!sameSubnet || !primaryDefault) continue;
      defaultRoute.gw = primaryDefault->route.gw;
    }
    log::info(kLog, "moving {} ({}) into the pod namespace for external access", candidate.name,
              address.toString());
    if (auto s = host.moveLink(candidate, podNs, ""); !s) return s;
    auto moved = pod.link(candidate.name);
    if (!moved) return fail(moved.error());
    if (auto s = pod.addAddress(moved->index, moved->name, address); !s) return s;
    if (auto s = pod.setLinkUp(*moved); !s) return s;
    if (auto s = pod.deleteRoutesTo(Ipv4Prefix{Ipv4Address{0}, 0}, -1); !s) return s;
    return pod.addRoute(defaultRoute);
  }
  return fail(Code::kNotFound, "no secondary interface with an IPv4 address found in the VM");
}

Status VxlanPodNode::teardown(const PodNetworkConfig& config, const std::string& podNamespacePath) {
  auto context = [&](const Error& e) {
    return e.wrap(fmt::format("tearing down the pod network in {}", podNamespacePath));
  };
  std::optional<netlink::RouteSocket> pod;
  std::optional<uint32_t> vni;
  auto podNs = Netns::open(podNamespacePath);
  if (!podNs && podNs.error().code != Code::kNotFound) return fail(context(podNs.error()));
  if (podNs && !config.interfaceName.empty()) {
    auto socket = netlink::RouteSocket::open(*podNs);
    if (!socket) return fail(context(socket.error()));
    auto link = socket->findLink(config.interfaceName);
    if (!link) return fail(context(link.error()));
    if (*link) {
      auto info = socket->vxlanInfo(config.interfaceName);
      if (!info) return fail(context(info.error()));
      if (*info) {
        vni = (*info)->vni;
        pod.emplace(std::move(*socket));
      }
    }
  }
  // As on the node: rules and device go at the same time (see worker_node.cc).
  const uint32_t ruleVni = vni.value_or(config.vxlanId);
  Status rulesStatus;
  std::thread rulesThread([&] {
    rulesStatus = haveIptables() ? withHostNs([&] { return rules_.remove(ruleVni); }) : Status{};
  });
  Status linkStatus;
  if (pod) linkStatus = pod->deleteLink(config.interfaceName);
  rulesThread.join();
  if (!linkStatus) return fail(context(linkStatus.error()));
  if (!rulesStatus) return fail(context(rulesStatus.error()));
  return {};
}

}  // namespace

Result<std::unique_ptr<PodNode>> PodNode::create(PodNodeOptions options) {
  if (options.pollInterval <= std::chrono::milliseconds(0)) {
    return fail(Code::kInvalidArgument, "the poll interval must be positive");
  }
  auto hostNs = Netns::open(options.hostNetnsPath);
  if (!hostNs) return fail(hostNs.error().wrap("opening the VM's network namespace"));
  return std::unique_ptr<PodNode>(new VxlanPodNode(std::move(options), std::move(*hostNs)));
}

}  // namespace pp::podnetwork
