// The pod network description: what the node side (WorkerNode::inspect, worker_node.h) learns
// about a pod and the VM side (PodNode::setup, pod_node.h) rebuilds inside the pod VM
// (upstream's pkg/podnetwork). It travels to the VM as the `pod-network`
// object of apf.json and is kept in the sandbox's state file, with upstream's JSON keys so either
// side may be the Go implementation. Everywhere else it stays this typed struct.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "podnetwork/address.h"

namespace pp::podnetwork {

inline constexpr std::string_view kTunnelTypeVxlan = "vxlan";
inline constexpr int kDefaultVxlanPort = 4789;
inline constexpr uint32_t kMaxVni = (1u << 24) - 1;
// Bytes a VXLAN-over-IPv4 encapsulation adds: outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14.
inline constexpr int kVxlanOverhead = 50;

struct Route {
  std::optional<Ipv4Prefix> dst;  // nullopt: the default route (upstream writes "")
  std::optional<Ipv4Address> gw;  // nullopt: on-link (upstream writes "")
  std::string dev;
  uint8_t protocol = 0;  // RTPROT_*; JSON "static" | "boot" | "dhcp" | "kernel", 0 = omitted
  uint8_t scope = 0;     // RT_SCOPE_*; JSON "universe" | "site" | "link" | "host" | "nowhere"
  bool operator==(const Route&) const = default;
};

struct Neighbor {
  Ipv4Address ip;
  std::optional<MacAddress> hwAddr;
  std::string dev;
  uint16_t state = 0;  // NUD_*; JSON "permanent", "reachable", ...
  bool operator==(const Neighbor&) const = default;
};

struct PodNetworkConfig {
  std::optional<Ipv4Prefix> podIp;         // "podip": the pod's address with its prefix length
  std::optional<MacAddress> podHwAddr;     // "pod-hw-addr"
  std::string interfaceName;               // "interface": the pod's primary interface (eth0)
  std::optional<Ipv4Prefix> workerNodeIp;  // "worker-node-ip": tunnel remote seen from the VM
  std::string tunnelType{kTunnelTypeVxlan};
  std::vector<Route> routes;
  std::vector<Neighbor> neighbors;
  int mtu = 0;  // the pod interface's MTU on the worker
  int index = 0;
  int vxlanPort = 0;
  uint32_t vxlanId = 0;
  bool dedicated = false;
  bool externalNetViaPodVm = false;

  // Serialises with upstream's keys and value formats (Go's encoding/json of tunneler.Config).
  nlohmann::json toJson() const;
  std::string toJsonString() const;
  // Strict: a present key with the wrong type, a malformed address, a port or VNI out of range
  // or an unknown route protocol/scope/neighbour state is an INVALID_ARGUMENT naming the key.
  // Absent keys take their zero value and unknown keys are ignored, as Go's decoder does, so a
  // config written by the Go adaptor (or a newer one) is accepted.
  static Result<PodNetworkConfig> fromJson(const nlohmann::json& json);
  static Result<PodNetworkConfig> parse(std::string_view text);

  bool operator==(const PodNetworkConfig&) const = default;
};

// MTU of the pod interface inside the VM: what the VM's underlay can carry after the VXLAN
// overhead, and never more than the pod had on the worker (podMtu <= 0 means unknown).
// Upstream caps at a fixed 1450 instead, which is wrong for jumbo-frame and for small underlays.
int tunnelMtu(int podMtu, int underlayMtu);

}  // namespace pp::podnetwork
