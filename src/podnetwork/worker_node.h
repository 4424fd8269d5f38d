// Node side of the pod network (cloud-api-adaptor): a VXLAN tunnel that carries a Kubernetes
// pod's network from its namespace on the worker node to the pod VM.
//
//   WorkerNode::inspect at CreateVM, setup at StartVM, teardown at StopVM
//
// The VM side is pod_node.h; what travels between them is PodNetworkConfig (config.h).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "podnetwork/config.h"
#include "podnetwork/vni_allocator.h"

namespace pp::podnetwork {

// Name of the tunnel end inside the pod's namespace on the worker node (upstream's name).
inline constexpr std::string_view kWorkerTunnelInterface = "vxlan1";

struct WorkerNodeOptions {
  std::string tunnelType{kTunnelTypeVxlan};  // -tunnel-type (only vxlan exists)
  std::string hostInterface;                 // -host-interface ("" = primary interface)
  int vxlanPort = kDefaultVxlanPort;         // -vxlan-port
  std::vector<std::string> podSubnetCidrs;   // -pod-subnet-cidrs, one CIDR per element
  bool externalNetViaPodVm = false;          // -ext-network-via-podvm
  // The namespace holding the node's underlay, the tunnel's UDP socket and the NOTRACK rules.
  // "" = the namespace of the thread that calls create() (the adaptor's, i.e. the host's).
  std::string hostNetnsPath;
  std::string iptablesPath = "/usr/sbin/iptables";
};

class WorkerNode {
 public:
  // Validates the options (unknown tunnel type, bad port or CIDR: INVALID_ARGUMENT). The
  // allocator must outlive the WorkerNode; the adaptor owns both.
  static Result<std::unique_ptr<WorkerNode>> create(WorkerNodeOptions options, VniAllocator& vnis);
  virtual ~WorkerNode() = default;

  // Reads the pod namespace (primary interface, its IPv4 address, MAC, MTU, routes, permanent
  // neighbours) and the host (primary interface, worker IP) and allocates a VNI.
  virtual Result<PodNetworkConfig> inspect(const std::string& podNetnsPath) = 0;
  // Creates the tunnel to the VM: NOTRACK rules, `vxlan1` in the pod namespace with its UDP
  // socket in the host namespace, and tc redirects between it and the pod interface. vmIps are
  // the VM's addresses; the second one is used when the config is `dedicated`. On failure what
  // was created is removed again.
  virtual Status setup(const std::string& podNetnsPath, const PodNetworkConfig& config,
                       std::span<const Ipv4Address> vmIps) = 0;
  // Reverses setup, reading remote, port and VNI back from the device; releases the VNI.
  // Idempotent: a missing device, qdisc, rule or pod namespace is not an error.
  virtual Status teardown(const std::string& podNetnsPath, const PodNetworkConfig& config) = 0;
};

}  // namespace pp::podnetwork
