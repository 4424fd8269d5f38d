#include "adaptor/vxlan_pod_network.h"

#include "base/log.h"

namespace pp::adaptor {

Result<std::unique_ptr<VxlanPodNetwork>> VxlanPodNetwork::create(podnetwork::WorkerNodeOptions options,
                                                                 uint32_t vxlanMinId) {
  auto self = std::unique_ptr<VxlanPodNetwork>(new VxlanPodNetwork());
  auto vnis = podnetwork::VniAllocator::create(vxlanMinId);
  if (!vnis) return fail(vnis.error());
  self->vnis_ = std::move(*vnis);
  auto node = podnetwork::WorkerNode::create(std::move(options), *self->vnis_);
  if (!node) return fail(node.error());
  self->node_ = std::move(*node);
  return self;
}

Result<nlohmann::json> VxlanPodNetwork::inspect(const std::string& netnsPath) {
  if (netnsPath.empty()) return nlohmann::json();
  auto cfg = node_->inspect(netnsPath);
  if (!cfg) return fail(cfg.error());
  return cfg->toJson();
}

void VxlanPodNetwork::reserve(const nlohmann::json& config) {
  if (config.is_null()) return;
  auto cfg = podnetwork::PodNetworkConfig::fromJson(config);
  if (cfg && cfg->vxlanId != 0) {
    if (auto st = vnis_->reserve(cfg->vxlanId); !st) log::warn("podnetwork", "reserving VNI {}: {}", cfg->vxlanId, st.error().message);
  }
}

void VxlanPodNetwork::release(const nlohmann::json& config) {
  if (config.is_null()) return;
  auto cfg = podnetwork::PodNetworkConfig::fromJson(config);
  if (cfg && cfg->vxlanId != 0) vnis_->release(cfg->vxlanId);
}

Status VxlanPodNetwork::setup(const std::string& netnsPath, const nlohmann::json& config,
                              const std::vector<std::string>& vmIps) {
  if (config.is_null() || netnsPath.empty()) return {};
  auto cfg = podnetwork::PodNetworkConfig::fromJson(config);
  if (!cfg) return fail(cfg.error());
  std::vector<podnetwork::Ipv4Address> ips;
  for (const auto& ip : vmIps) {
    auto a = podnetwork::Ipv4Address::parse(ip);
    if (!a) return fail(Code::kInvalidArgument, "pod VM address \"" + ip + "\" is not IPv4");
    ips.push_back(*a);
  }
  return node_->setup(netnsPath, *cfg, ips);
}

Status VxlanPodNetwork::teardown(const std::string& netnsPath, const nlohmann::json& config) {
  if (config.is_null() || netnsPath.empty()) return {};
  auto cfg = podnetwork::PodNetworkConfig::fromJson(config);
  if (!cfg) return fail(cfg.error());
  return node_->teardown(netnsPath, *cfg);
}

}  // namespace pp::adaptor
