// VM side of the pod network (agent-protocol-forwarder): the pod's interface rebuilt inside the
// VM's pod namespace, with the same IP, MAC, routes and neighbours, as a VXLAN device towards the
// worker node.
//
//   PodNode::setup at start, teardown at exit
//
// The node side is worker_node.h; what travels between them is PodNetworkConfig (config.h).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "base/error.h"
#include "podnetwork/config.h"

namespace pp::podnetwork {

struct PodNodeOptions {
  std::string hostInterface;  // forwarder -host-interface ("" = primary interface)
  // The VM's own namespace (underlay NIC, tunnel socket, NOTRACK rules). "" = the namespace of
  // the thread that calls create().
  std::string hostNetnsPath;
  // How long to wait for the VM's interface and its address (DHCP may still be running).
  std::chrono::milliseconds waitTimeout = std::chrono::minutes(3);
  std::chrono::milliseconds pollInterval = std::chrono::seconds(1);
  std::string iptablesPath = "/usr/sbin/iptables";
};

class PodNode {
 public:
  static Result<std::unique_ptr<PodNode>> create(PodNodeOptions options);
  virtual ~PodNode() = default;

  // Builds the pod's interface in podNamespacePath (/run/netns/podns): a VXLAN device towards the
  // worker carrying the pod's name, MAC, IP, routes and neighbours.
  virtual Status setup(const PodNetworkConfig& config, const std::string& podNamespacePath) = 0;
  // Removes the device and the NOTRACK rules. Idempotent.
  virtual Status teardown(const PodNetworkConfig& config, const std::string& podNamespacePath) = 0;
};

}  // namespace pp::podnetwork
