// The azure provider: a pod VM is an Azure virtual machine (upstream src/cloud-providers/azure).
// Flags and environment variables are upstream's; the calls go to the Azure Resource Manager REST
// API through our own client (arm_client.h) with Entra tokens (auth.h).
//
// One PUT creates the VM with its NIC declared inline (networkInterfaceConfigurations) and every
// dependent resource (NIC, optional public IP, OS disk) marked deleteOption Delete, so that
// deleting the VM deletes them. Differences from upstream, on purpose: a create that fails after
// the PUT deletes the VM (and whatever it made); managed identity works when no secret and no
// federated token file are configured; endpoints can be overridden (private clouds, tests);
// VMs carry io.peerpods.* tags for orphan sweeps; the OS disk type is a setting; VM sizes are
// looked up on first use, so peerpod-ctrl can delete VMs even while that lookup fails.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/flags.h"
#include "net/http_client.h"
#include "providers/azure/arm_client.h"
#include "providers/azure/auth.h"
#include "providers/instance_type.h"
#include "providers/provider.h"
#include "providers/tags.h"

namespace pp::providers::azure {

inline constexpr char kComputeApi[] = "2023-03-01";
inline constexpr char kNetworkApi[] = "2023-05-01";
inline constexpr char kResourcesApi[] = "2021-04-01";
// Managed disks are the Disk resource provider's, which has its own api-versions (2023-10-02
// is a stable DiskRP version); the compute api-version is refused for them.
inline constexpr char kDiskApi[] = "2023-10-02";
// Network API version the VM uses for its inline NIC (as upstream).
inline constexpr char kVmNetworkApi[] = "2020-11-01";

// Azure refuses userData over 64 KiB (after base64).
inline constexpr size_t kMaxUserDataBase64 = 65536;

struct AzureConfig {
  // Upstream's flags.
  std::string clientId, clientSecret, tenantId;
  std::string subscriptionId, region, resourceGroup, subnetId, imageId;
  std::string size;
  std::vector<std::string> sizes;
  std::string securityGroupId;
  std::string zone;
  std::string sshKeyPath, sshUserName;
  bool disableCvm = false, enableSecureBoot = false, usePublicIp = false;
  int64_t rootVolumeSize = 0;
  std::map<std::string, std::string> tags;
  // Ours.
  std::string resourceManagerEndpoint;  // overrides the cloud's
  std::string authorityHost;            // overrides the cloud's
  std::string environment;              // AZURE_ENVIRONMENT
  std::string tokenAudience;            // "" = the Resource Manager endpoint
  std::string auth;                     // "", secret, workload, managed
  std::string federatedTokenFile;       // AZURE_FEDERATED_TOKEN_FILE
  std::string imdsEndpoint;             // managed identity; default http://169.254.169.254
  std::string diskType = "Premium_LRS";
  double mutatingCallsPerSecond = 2;
  std::chrono::nanoseconds createTimeout{std::chrono::minutes(10)};
  std::string nodeName;
};

// Registers upstream's azure flags (and ours) on `flags`, bound to `config`.
void registerAzureFlags(flags::FlagSet& flags, AzureConfig& config);

// The endpoints of an Azure cloud.
struct CloudEndpoints {
  std::string resourceManager, authorityHost;
};
// AZURE_ENVIRONMENT as the SDKs name the clouds (AzurePublicCloud, AzureChinaCloud,
// AzureUSGovernmentCloud; also public, china, usgov); "" is the public cloud.
Result<CloudEndpoints> cloudEndpoints(const std::string& environment);

struct AzureDependencies {
  flags::EnvLookup env = flags::processEnv();
  net::HttpClient http;
  Retrier::Sleep sleep;  // backoff and poll waits (default: really sleep)
  Clock clock;
  std::chrono::milliseconds pollInterval{5000};
};

class AzureProvider final : public Provider {
 public:
  // Resolves the cloud, endpoints and credentials; makes no call.
  static Result<std::unique_ptr<AzureProvider>> create(const AzureConfig& config,
                                                       AzureDependencies deps = {});

  Result<Instance> createInstance(const CreateRequest& request) override;
  Status deleteInstance(const std::string& id) override;
  Status verifyConfig() override;
  Result<std::vector<Instance>> listInstances(const std::string& tag) override;

  const AzureConfig& config() const { return config_; }
  AuthMode authMode() const { return tokens_->mode(); }
  const std::string& resourceManager() const { return arm_->endpoint(); }
  const std::string& authorityHost() const { return authority_; }
  // The VM PUT body for a request (exposed for tests); needs the size lookup done.
  Result<nlohmann::json> vmBody(const CreateRequest& request, const std::string& publicKey);

 private:
  AzureProvider(AzureConfig config, AzureDependencies deps)
      : config_(std::move(config)), deps_(std::move(deps)) {}
  Status ensureLookups();
  Result<std::string> publicKey();
  std::string vmPath(const std::string& name) const;
  std::string groupPath() const;
  Result<std::vector<std::string>> addresses(const nlohmann::json& vm);
  // Deletes the VM and waits; then deletes the NIC, public IP and disk it may have left when
  // its creation failed half-way. Errors are appended to `err`.
  void cleanupAfterFailure(const std::string& name, Error& err);
  Status deleteResource(const std::string& path, const std::string& apiVersion,
                        const std::string& what);

  AzureConfig config_;
  AzureDependencies deps_;
  std::string authority_;
  std::shared_ptr<TokenSource> tokens_;
  std::unique_ptr<ArmClient> arm_;

  std::mutex lookupMu_;
  bool lookedUp_ = false;
  std::vector<InstanceTypeInfo> sizeTable_;
  std::string publicKey_;
};

// Splits a VM resource id /subscriptions/S/resourceGroups/G/providers/Microsoft.Compute/
// virtualMachines/N (case-insensitive keywords) into its canonical path and N.
Result<std::pair<std::string, std::string>> parseVmId(const std::string& id);

// Generates an RSA key pair and returns the public half in OpenSSH authorized_keys form
// ("ssh-rsa AAAA..."); the private half is discarded (as upstream: nobody logs in).
Result<std::string> generateSshPublicKey(int bits);

}  // namespace pp::providers::azure
