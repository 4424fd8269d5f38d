// PodNetwork over src/podnetwork's VXLAN WorkerNode. Sandboxes without a network namespace
// path get no tunnel (no config).
#pragma once

#include <memory>

#include "adaptor/pod_network.h"
#include "podnetwork/vni_allocator.h"
#include "podnetwork/worker_node.h"

namespace pp::adaptor {

class VxlanPodNetwork final : public PodNetwork {
 public:
  static Result<std::unique_ptr<VxlanPodNetwork>> create(podnetwork::WorkerNodeOptions options,
                                                         uint32_t vxlanMinId);
  Result<std::optional<podnetwork::PodNetworkConfig>> inspect(
      const std::string& netnsPath) override;
  void reserve(const podnetwork::PodNetworkConfig& config) override;
  void release(const podnetwork::PodNetworkConfig& config) override;
  Status setup(const std::string& netnsPath, const podnetwork::PodNetworkConfig& config,
               const std::vector<std::string>& vmIps) override;
  Status teardown(const std::string& netnsPath,
                  const podnetwork::PodNetworkConfig& config) override;

 private:
  std::unique_ptr<podnetwork::VniAllocator> vnis_;
  std::unique_ptr<podnetwork::WorkerNode> node_;
};

}  // namespace pp::adaptor
