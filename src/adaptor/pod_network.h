// What the sandbox manager needs from pod networking (the VXLAN tunnel between the pod's
// network namespace on the node and the pod VM). The real implementation wraps src/podnetwork;
// NoPodNetwork is used when the sandbox has no network namespace (tests, runtimes without one).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "base/error.h"

namespace pp::adaptor {

class PodNetwork {
 public:
  virtual ~PodNetwork() = default;
  // Reads the pod netns at CreateVM; returns apf.json's "pod-network" object for this VNI.
  virtual Result<nlohmann::json> inspect(const std::string& netnsPath, uint32_t vni) = 0;
  // Connects the pod netns to the VM once its IP is known.
  virtual Status setup(const std::string& netnsPath, const nlohmann::json& config,
                       const std::string& vmIp) = 0;
  // Removes what setup created; idempotent.
  virtual Status teardown(const std::string& netnsPath, const nlohmann::json& config) = 0;
};

class NoPodNetwork final : public PodNetwork {
 public:
  Result<nlohmann::json> inspect(const std::string&, uint32_t) override { return nlohmann::json(); }
  Status setup(const std::string&, const nlohmann::json&, const std::string&) override { return {}; }
  Status teardown(const std::string&, const nlohmann::json&) override { return {}; }
};

}  // namespace pp::adaptor
