// The aws provider: a pod VM is an EC2 instance (upstream src/cloud-providers/aws). Flags and
// environment variables are upstream's; the EC2 calls go through our own SigV4 Query API
// client (ec2_client.h) with the SDKs' credential chain, endpoint overrides and IMDSv2.
//
// Differences from upstream, all on purpose: a create that fails after RunInstances
// terminates the instance; RunInstances carries a ClientToken, so retrying it after a timeout
// cannot start a second VM; the private IP is polled for when RunInstances does not report it;
// instance-type and image lookups happen on first use, so peerpod-ctrl can delete instances
// even while they fail; instances carry io.peerpods.* tags for orphan sweeps; a second interface
// (-ext-network-via-podvm) and its Elastic IP are undone when a later step fails.
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
#include "providers/aws/ec2_client.h"
#include "providers/aws/imds_client.h"
#include "providers/instance_type.h"
#include "providers/provider.h"
#include "providers/tags.h"

namespace pp::providers::aws {

// EC2 refuses user data over 16 KiB (before base64).
inline constexpr size_t kMaxUserDataBytes = 16384;

struct AwsConfig {
  // Upstream's flags.
  std::string accessKeyId, secretKey, sessionToken;
  std::string region;
  std::string profile;
  std::string instanceType;
  std::vector<std::string> instanceTypes;
  std::string imageId;
  std::string launchTemplateName;
  bool useLaunchTemplate = false;
  std::string keyName, subnetId;
  std::vector<std::string> securityGroupIds;
  bool usePublicIp = false;
  bool disableCvm = false;
  int64_t rootVolumeSize = 30;
  std::map<std::string, std::string> tags;
  // Ours.
  double mutatingCallsPerSecond = 2;
  std::chrono::nanoseconds ipTimeout{std::chrono::seconds(180)};
  // The pod VM's IMDS setting: "required" (IMDSv2 only, our default: IMDSv1 answers anyone
  // in the VM who can make a plain GET, SSRF included), "optional", or "" (the AMI's default).
  std::string metadataHttpTokens = "required";
  std::string nodeName;  // tag io.peerpods.node; from NODE_NAME
};

// Registers upstream's aws flags (and ours) on `flags`, bound to `config`.
void registerAwsFlags(flags::FlagSet& flags, AwsConfig& config);

// What the provider needs from outside; tests substitute each.
struct AwsDependencies {
  flags::EnvLookup env = flags::processEnv();
  net::HttpClient http;
  Retrier::Sleep sleep;  // backoff waits (default: really sleep)
  Clock clock;           // wall clock for signing and credential expiry
  std::chrono::milliseconds pollInterval{2000};
};

class AwsProvider final : public Provider {
 public:
  // Resolves region, endpoints, credentials and missing network settings (IMDS); no EC2 call.
  static Result<std::unique_ptr<AwsProvider>> create(const AwsConfig& config,
                                                     AwsDependencies deps = {});

  Result<Instance> createInstance(const CreateRequest& request) override;
  Status deleteInstance(const std::string& id) override;
  Status verifyConfig() override;
  Result<std::vector<Instance>> listInstances(const std::string& tag) override;

  const AwsConfig& config() const { return config_; }
  const std::string& ec2Endpoint() const { return ec2Endpoint_; }
  const std::string& stsEndpoint() const { return stsEndpoint_; }
  Ec2Client& ec2() { return *ec2_; }
  // The RunInstances parameters for a request (exposed for tests); needs the lookups done.
  Result<QueryParams> runInstancesParams(const CreateRequest& request,
                                         const std::string& clientToken);

 private:
  AwsProvider(AwsConfig config, AwsDependencies deps)
      : config_(std::move(config)), deps_(std::move(deps)) {}
  Status ensureLookups();
  Result<Ec2Instance> waitForAddress(const std::string& id, bool requireRunning);
  void cleanupByClientToken(const std::string& token);
  Status terminateAfterFailure(const std::string& id, Error& err);

  // -ext-network-via-podvm (secondary_nic.cc): a second network interface at device index 1
  // (deleted with the instance) and, with -use-public-ip, an Elastic IP on it. Partial work is
  // undone on failure; *nicId names the interface when it exists but could not be set up.
  Status attachSecondaryNic(const std::string& instanceId, const std::string& clientToken,
                            std::string* nicId);
  // Disassociates and releases the Elastic IPs of an instance (errors are only logged).
  void releaseAddresses(const std::string& instanceId);

  AwsConfig config_;
  AwsDependencies deps_;
  std::string ec2Endpoint_, stsEndpoint_;
  std::shared_ptr<ImdsClient> imds_;
  std::unique_ptr<Ec2Client> ec2_;

  std::mutex lookupMu_;
  bool lookedUp_ = false;
  std::vector<InstanceTypeInfo> typeTable_;
  std::string rootDeviceName_;
  int64_t rootVolumeGiB_ = 0;
};

}  // namespace pp::providers::aws
