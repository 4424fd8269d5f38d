// The alibabacloud provider: a pod VM is an ECS instance (upstream
// src/cloud-providers/alibabacloud). Flags and environment variables are upstream's; the ECS and
// VPC OpenAPIs are called through our own signed client (acs_client.h) with the credentials
// chain of credentials.h.
//
// Differences from upstream, on purpose (docs/providers/alibabacloud.md lists them):
// - a successful DeleteInstance is success (upstream reports it as an error, so only its
//   caller's retry succeeds); a gone instance is success;
// - -security-group-ids has no default (upstream's is "cn-beijing", a region, not a group);
// - -instance-types (PODVM_INSTANCE_TYPES) gives the sizing annotations types to choose from
//   (upstream has the field but no flag, so only the default type can be chosen);
// - the image annotation applies to its own pod only (upstream writes it into the config, so
//   it sticks for every later pod);
// - waits are measured in wall-clock time (upstream counts only the time spent inside calls);
// - a create that fails after RunInstances deletes the instance, its extra NIC and its EIP;
//   RunInstances carries a ClientToken, so a retried call creates one instance;
// - the EIP of -ext-network-via-podvm + -use-public-ip is named peerpod-eip-<instance id> and
//   found by that name at delete time, so a restarted adaptor (or peerpod-ctrl) still releases it
//   (upstream keeps its id in memory only);
// - instances carry io.peerpods.* tags, so orphans can be listed (listInstances).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/flags.h"
#include "net/http_client.h"
#include "providers/alibabacloud/acs_client.h"
#include "providers/instance_type.h"
#include "providers/provider.h"

namespace pp::providers::alibabacloud {

// RunInstances UserData: at most 32 KiB before base64.
inline constexpr size_t kMaxUserDataBytes = 32 << 10;
// ECS takes at most 20 tags per resource.
inline constexpr size_t kMaxTags = 20;

struct AlibabaConfig {
  // Upstream's flags.
  std::string accessKeyId, secretKey, securityToken;
  std::string region = "cn-beijing";
  std::string imageId;
  std::string instanceType = "ecs.g8i.xlarge";
  std::string vswitchId;
  std::string keyName;
  bool usePublicIp = false;
  int64_t systemDiskSize = 40;
  bool disableCvm = false;
  std::string vpcId;  // checked against the vSwitch's VPC when set
  std::vector<std::string> securityGroupIds;
  std::map<std::string, std::string> tags;
  // Ours.
  std::vector<std::string> instanceTypes;  // -instance-types: what sizing may choose from
  std::string ecsEndpoint;                 // "" = https://ecs.<region>.aliyuncs.com
  std::string vpcEndpoint;                 // "" = https://vpc.<region>.aliyuncs.com
  std::string stsEndpoint;                 // "" = sts.aliyuncs.com (or ALIBABA_CLOUD_STS_REGION)
  std::string metadataEndpoint;            // "" = http://100.100.100.200
  double mutatingCallsPerSecond = 2;
  std::chrono::nanoseconds readyTimeout{std::chrono::minutes(3)};
  std::string nodeName;  // tag io.peerpods.node; from NODE_NAME
};

void registerAlibabaFlags(flags::FlagSet& flags, AlibabaConfig& config);

// The ECS OpenAPI endpoint of a region, as Alibaba's SDKs resolve it.
std::string ecsEndpointFor(const std::string& region);
std::string vpcEndpointFor(const std::string& region);

struct AlibabaDependencies {
  flags::EnvLookup env = flags::processEnv();
  net::HttpClient http;
  Retrier::Sleep sleep;  // backoff and polling waits (default: really sleep)
  Clock clock;
  std::chrono::milliseconds pollInterval{1000};
};

// The readers of ECS answers (untrusted input; fuzzed by tests/fuzz/fuzz_alibaba_json):
// One DescribeInstances item: nullopt without an InstanceId, or when `tagKey` is set and the
// item lacks that tag (with `tagValue` unless it is empty): a filter the service ignored must
// not widen a delete.
struct DescribedInstance {
  std::string id, name, status;
  std::vector<std::string> privateIps, publicIps;  // at most 64 each (+ the EIP)
};
std::optional<DescribedInstance> parseDescribedInstance(const nlohmann::json& item,
                                                        const std::optional<std::string>& tagKey,
                                                        const std::string& tagValue);
// One DescribeInstanceTypes item; an error for one without id, CPU count or memory size, or
// with implausible ones.
Result<InstanceTypeInfo> parseInstanceType(const nlohmann::json& item);

class AlibabaProvider final : public Provider {
 public:
  // Checks the configuration and sets up credentials (fetching them once, as upstream does).
  static Result<std::unique_ptr<AlibabaProvider>> create(const AlibabaConfig& config,
                                                         AlibabaDependencies deps = {});

  Result<Instance> createInstance(const CreateRequest& request) override;
  Status deleteInstance(const std::string& id) override;
  Status verifyConfig() override;
  Result<std::vector<Instance>> listInstances(const std::string& tag) override;

  const AlibabaConfig& config() const { return config_; }
  // The instance type for a pod: the annotation, sizing over -instance-types, or the default.
  Result<std::string> instanceTypeFor(const InstanceSpec& spec);
  // The RunInstances parameters for a request (exposed for tests).
  Result<Params> runInstancesParams(const CreateRequest& request, const std::string& clientToken);

 private:
  AlibabaProvider(AlibabaConfig config, AlibabaDependencies deps)
      : config_(std::move(config)), deps_(std::move(deps)) {}

  using Described = DescribedInstance;
  Result<std::vector<Described>> describeInstances(const Params& filter);
  Result<std::string> vpcOfVSwitch();
  Result<Instance> waitForAddresses(const std::string& id, const std::string& name);
  Status addExternalNic(const std::string& instanceId);
  Status releaseEips(const std::string& instanceId);
  Status deleteNics(const std::string& instanceId);
  Status deleteOnly(const std::string& id);
  // Polls `done` every poll interval until it says true, fails, or the ready timeout passes.
  Status waitUntil(const std::string& what, std::chrono::nanoseconds timeout,
                   const std::function<Result<bool>()>& done);
  void pause();

  AlibabaConfig config_;
  AlibabaDependencies deps_;
  std::unique_ptr<AcsClient> ecs_, vpc_;

  std::mutex lookupMu_;
  bool typesLoaded_ = false;
  std::vector<InstanceTypeInfo> typeTable_;
  bool vswitchChecked_ = false;
};

}  // namespace pp::providers::alibabacloud
