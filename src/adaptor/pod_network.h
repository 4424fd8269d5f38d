// What the sandbox manager needs from pod networking (the VXLAN tunnel between the pod's
// network namespace on the node and the pod VM). VxlanPodNetwork wraps src/podnetwork;
// NoPodNetwork is used when there is no network namespace (tests, runtimes without one).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "base/error.h"

namespace pp::adaptor {

class PodNetwork {
 public:
  virtual ~PodNetwork() = default;
  // Reads the pod netns at CreateVM and allocates the tunnel's VNI; returns apf.json's
  // "pod-network" object (null when the sandbox has no network namespace).
  virtual Result<nlohmann::json> inspect(const std::string& netnsPath) = 0;
  // After a restart: marks the VNI of a saved config as in use again.
  virtual void reserve(const nlohmann::json& config) = 0;
  // Gives back what inspect allocated when the sandbox goes away before setup.
  virtual void release(const nlohmann::json& config) = 0;
  // Connects the pod netns to the VM once its IP is known.
  virtual Status setup(const std::string& netnsPath, const nlohmann::json& config,
                       const std::vector<std::string>& vmIps) = 0;
  // Removes what setup created and releases the VNI; idempotent.
  virtual Status teardown(const std::string& netnsPath, const nlohmann::json& config) = 0;
};

class NoPodNetwork final : public PodNetwork {
 public:
  Result<nlohmann::json> inspect(const std::string&) override { return nlohmann::json(); }
  void reserve(const nlohmann::json&) override {}
  void release(const nlohmann::json&) override {}
  Status setup(const std::string&, const nlohmann::json&, const std::vector<std::string>&) override {
    return {};
  }
  Status teardown(const std::string&, const nlohmann::json&) override { return {}; }
};

}  // namespace pp::adaptor
