// The ibmcloud provider: a pod VM is an IBM Cloud VPC virtual server instance (upstream
// src/cloud-providers/ibmcloud). Flags and environment variables are upstream's; the VPC and
// Global Tagging REST APIs are called through our own client (vpc_client.h) with IAM tokens
// (iam.h: an API key or a trusted profile with the projected compute-resource token).
//
// Differences from upstream, on purpose:
// - a create that fails after POST /instances deletes the instance: when the NICs get no
//   address within -ip-wait-timeout (upstream carries on without IPs after 10 polls) and when
//   attaching the tags fails (upstream leaves the VM); a create whose answer was lost is looked
//   up by name and deleted;
// - VPC and tagging calls are retried on 429/5xx with backoff;
// - instances also carry io.peerpods.* user tags (key:value), so orphans can be listed;
// - the primary security group is sent only when set (upstream sends an empty id);
// - the Global Tagging URL can be overridden (-tagging-service-url).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/flags.h"
#include "k8s/client.h"
#include "net/http_client.h"
#include "providers/ibmcloud/iam.h"
#include "providers/ibmcloud/vpc_client.h"
#include "providers/instance_type.h"
#include "providers/provider.h"

namespace pp::providers::ibmcloud {

// Upstream's -vpc-service-url default.
inline constexpr char kDefaultVpcUrl[] = "https://jp-tok.iaas.cloud.ibm.com/v1";
// The tag every pod VM carries, followed by the cluster id (upstream's).
inline constexpr char kClusterTagPrefix[] = "coco-pod-vm:";
inline constexpr char kClusterInfoNamespace[] = "kube-system";
inline constexpr char kClusterInfoName[] = "cluster-info";
inline constexpr char kRegionLabel[] = "topology.kubernetes.io/region";
inline constexpr char kZoneLabel[] = "topology.kubernetes.io/zone";
inline constexpr char kIksSubnetLabel[] = "ibm-provider.kubernetes.io/subnet-id";
inline constexpr char kIksSubnetLabelOld[] = "ibm-cloud.kubernetes.io/subnet-id";
// The VPC API takes user data up to 64 KiB.
inline constexpr size_t kMaxUserDataBytes = 64 << 10;

struct IbmCloudConfig {
  // Upstream's flags.
  std::string apiKey, iamProfileId;
  std::string iamServiceUrl = kDefaultIamUrl;
  std::string vpcServiceUrl = kDefaultVpcUrl;
  std::string resourceGroupId, profileName, zoneName;
  std::string primarySubnetId, primarySecurityGroupId;
  std::string keyId, vpcId, clusterId;
  bool disableCvm = false;
  std::string crTokenFile = kDefaultCrTokenFile;
  std::string secondarySubnetId, secondarySecurityGroupId;
  std::vector<std::string> profileList, imageIds, tags;
  // Ours.
  std::string taggingServiceUrl = kDefaultTaggingUrl;
  std::chrono::nanoseconds ipWaitTimeout{std::chrono::seconds(60)};
  double mutatingCallsPerSecond = 2;
};

void registerIbmCloudFlags(flags::FlagSet& flags, IbmCloudConfig& config);

// What the provider needs from outside; tests substitute each.
struct IbmCloudDependencies {
  flags::EnvLookup env;  // NODE_NAME; default: the process environment
  net::HttpClient http;
  Retrier::Sleep sleep;  // backoff and polling waits (default: really sleep)
  Clock clock;
  std::shared_ptr<BearerTokenCache> tokens;  // default: IamTokenSource from the config
  // For the cluster-info ConfigMap and the node's labels; default: $KUBECONFIG, else in-cluster,
  // made only when needed.
  std::shared_ptr<const k8s::Client> kube;
  std::chrono::milliseconds pollInterval{2000};  // between instance GETs while waiting for IPs
};

class IbmCloudProvider final : public Provider {
 public:
  // Reads the cluster id and node labels when needed, then looks up the profiles and images.
  static Result<std::unique_ptr<IbmCloudProvider>> create(const IbmCloudConfig& config,
                                                          IbmCloudDependencies deps = {});

  Result<Instance> createInstance(const CreateRequest& request) override;
  Status deleteInstance(const std::string& id) override;
  Status verifyConfig() override;
  Result<std::vector<Instance>> listInstances(const std::string& tag) override;

  const IbmCloudConfig& config() const { return config_; }
  VpcClient& vpc() { return *vpc_; }
  // The POST /instances body for a request (exposed for tests).
  Result<nlohmann::json> instancePrototype(const CreateRequest& request);
  // The user tags a pod VM gets.
  std::vector<std::string> tagsFor(const CreateRequest& request) const;
  // The images left after the start-up lookup, in configured order.
  const std::vector<VpcImage>& images() const { return images_; }

 private:
  IbmCloudProvider(IbmCloudConfig config, IbmCloudDependencies deps)
      : config_(std::move(config)), deps_(std::move(deps)) {}
  Status readClusterSettings();
  Status loadProfilesAndImages();
  Result<std::string> imageFor(const InstanceSpec& spec, const std::string& profile) const;
  Result<std::vector<std::string>> waitForIps(const std::string& id, size_t nics);
  Result<Instance> deleteAfterFailure(const std::string& id, const std::string& name, Error err);

  IbmCloudConfig config_;
  IbmCloudDependencies deps_;
  std::string nodeName_;
  std::unique_ptr<VpcClient> vpc_;
  std::vector<InstanceTypeInfo> profiles_;
  std::map<std::string, std::string> profileArch_;
  std::vector<VpcImage> images_;
};

// A user tag "key:value" with the characters IBM Cloud tags allow (letters, digits, space,
// '_', '-', '.', ':'), lowercased, at most 128 characters.
std::string userTag(std::string_view key, std::string_view value);

}  // namespace pp::providers::ibmcloud
