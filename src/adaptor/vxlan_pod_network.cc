#include "adaptor/vxlan_pod_network.h"

#include "base/log.h"

namespace pp::adaptor {

Result<std::unique_ptr<VxlanPodNetwork>> VxlanPodNetwork::create(
    podnetwork::WorkerNodeOptions options, uint32_t vxlanMinId) {
  auto self = std::unique_ptr<VxlanPodNetwork>(new VxlanPodNetwork());
  auto vnis = podnetwork::VniAllocator::create(vxlanMinId);
  if (!vnis) return fail(vnis.error());
  self->vnis_ = std::move(*vnis);
  auto node = podnetwork::WorkerNode::create(std::move(options), *self->vnis_);
  if (!node) return fail(node.error());
  self->node_ = std::move(*node);
  return self;
}

Result<std::optional<podnetwork::PodNetworkConfig>> VxlanPodNetwork::inspect(
    const std::string& netnsPath) {
  if (netnsPath.empty()) return std::nullopt;
  auto cfg = node_->inspect(netnsPath);
  if (!cfg) return fail(cfg.error());
  return std::move(*cfg);
}

void VxlanPodNetwork::reserve(const podnetwork::PodNetworkConfig& config) {
  if (config.vxlanId == 0) return;
  if (auto st = vnis_->reserve(config.vxlanId); !st) {
    log::warn("podnetwork", "reserving VNI {}: {}", config.vxlanId, st.error().message);
  }
}

void VxlanPodNetwork::release(const podnetwork::PodNetworkConfig& config) {
  if (config.vxlanId != 0) vnis_->release(config.vxlanId);
}

Status VxlanPodNetwork::setup(const std::string& netnsPath,
                              const podnetwork::PodNetworkConfig& config,
                              const std::vector<std::string>& vmIps) {
  if (netnsPath.empty()) return {};
  std::vector<podnetwork::Ipv4Address> ips;
  for (const auto& ip : vmIps) {
    auto a = podnetwork::Ipv4Address::parse(ip);
    if (!a) return fail(Code::kInvalidArgument, "pod VM address \"" + ip + "\" is not IPv4");
    ips.push_back(*a);
  }
  return node_->setup(netnsPath, config, ips);
}

Status VxlanPodNetwork::teardown(const std::string& netnsPath,
                                 const podnetwork::PodNetworkConfig& config) {
  if (netnsPath.empty()) return {};
  return node_->teardown(netnsPath, config);
}

}  // namespace pp::adaptor
