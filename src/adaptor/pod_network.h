// What the sandbox manager needs from pod networking (the VXLAN tunnel between the pod's
// network namespace on the node and the pod VM). VxlanPodNetwork wraps src/podnetwork's node
// side; NoPodNetwork is used when there is no network namespace (tests, runtimes without one).
// The config stays typed from inspect to teardown: JSON only in apf.json and the state file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "podnetwork/config.h"

namespace pp::adaptor {

class PodNetwork {
 public:
  virtual ~PodNetwork() = default;
  // Reads the pod netns at CreateVM and allocates the tunnel's VNI; returns apf.json's
  // "pod-network" (nullopt when the sandbox has no network namespace: no tunnel, and the
  // manager makes none of the calls below for it).
  virtual Result<std::optional<podnetwork::PodNetworkConfig>> inspect(
      const std::string& netnsPath) = 0;
  // After a restart: marks the VNI of a saved config as in use again.
  virtual void reserve(const podnetwork::PodNetworkConfig& config) = 0;
  // Gives back what inspect allocated when the sandbox goes away before setup.
  virtual void release(const podnetwork::PodNetworkConfig& config) = 0;
  // Connects the pod netns to the VM once its IP is known.
  virtual Status setup(const std::string& netnsPath, const podnetwork::PodNetworkConfig& config,
                       const std::vector<std::string>& vmIps) = 0;
  // Removes what setup created and releases the VNI; idempotent.
  virtual Status teardown(const std::string& netnsPath,
                          const podnetwork::PodNetworkConfig& config) = 0;
};

class NoPodNetwork final : public PodNetwork {
 public:
  Result<std::optional<podnetwork::PodNetworkConfig>> inspect(const std::string&) override {
    return std::nullopt;
  }
  void reserve(const podnetwork::PodNetworkConfig&) override {}
  void release(const podnetwork::PodNetworkConfig&) override {}
  Status setup(const std::string&, const podnetwork::PodNetworkConfig&,
               const std::vector<std::string>&) override {
    return {};
  }
  Status teardown(const std::string&, const podnetwork::PodNetworkConfig&) override { return {}; }
};

}  // namespace pp::adaptor
