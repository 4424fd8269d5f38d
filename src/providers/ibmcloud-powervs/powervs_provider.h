// The ibmcloud-powervs provider: a pod VM is an IBM Power Virtual Server instance (upstream
// src/cloud-providers/ibmcloudpowervs). Flags and environment variables are upstream's; the
// PowerVS REST API is called through our own client (powervs_client.h) with IAM tokens from
// providers/ibmcloud/iam.h.
//
// Differences from upstream, on purpose (docs/providers/ibmcloud-powervs.md):
// - a create that fails after the POST (ERROR state, build timeout, no IP) deletes the instance,
//   and a create whose answer was lost looks for the instance by name and deletes it; upstream
//   returns an instance without IPs on a build timeout and leaks on the other paths;
// - the build timeout defaults to 8 minutes (upstream 150 s, too short: upstream issue #2177),
//   which with the address wait still fits the shim's remote_hypervisor_timeout (600 s);
// - the machine_type annotation is parsed strictly (upstream panics on a value without '-' or
//   'x'); vCPU+memory sizing rounds memory up to whole GB (upstream rounds down, to 0 GB under
//   1 GiB);
// - instances are listed by name (podvm-...-<sandbox id prefix>), since PowerVS instances carry
//   no tags; upstream has no listing;
// - the endpoint, IAM URL, account id and API call rate can be set (ours).
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/flags.h"
#include "net/http_client.h"
#include "providers/bearer_token_cache.h"
#include "providers/ibmcloud-powervs/powervs_client.h"
#include "providers/provider.h"

namespace pp::providers::powervs {

// PowerVS server names are at most 47 characters (upstream's maxInstanceNameLen).
inline constexpr size_t kMaxServerNameLength = 47;
// The instance names we give start with this (the adaptor's instance names).
inline constexpr char kNamePrefix[] = "podvm-";

struct PowerVsConfig {
  // Upstream's flags.
  std::string apiKey;
  std::string zone;
  std::string serviceInstanceId;
  std::string networkId;
  std::string imageId;
  std::string sshKey;
  std::string processorType = "shared";
  std::string systemType = "s922";
  double memoryGb = 2;
  double processors = 0.5;
  bool usePublicIp = false;
  std::chrono::nanoseconds buildTimeout{std::chrono::minutes(8)};
  // Ours.
  std::string endpoint;                     // "" = https://<region>.power-iaas.cloud.ibm.com
  std::string iamUrl = kDefaultIamBaseUrl;  // token and identity calls
  std::string accountId;                    // "" = look it up with the API key
  std::chrono::nanoseconds ipTimeout{std::chrono::seconds(750)};
  double mutatingCallsPerSecond = 2;
};

void registerPowerVsFlags(flags::FlagSet& flags, PowerVsConfig& config);

// What the provider needs from outside; tests substitute each.
struct PowerVsDependencies {
  net::HttpClient http;
  Retrier::Sleep sleep;  // backoff and poll waits (default: really sleep)
  Clock clock;
  std::shared_ptr<BearerTokenCache> tokens;  // default: IAM with the API key
  RetryPolicy retry;                         // of every API call
  std::string identityUrl;  // IAM Identity base URL; "" = -powervs-iam-endpoint (tests split them)
};

// The processors, memory and system type of one instance.
struct PowerVsSize {
  std::string systemType;
  double processors = 0;
  double memoryGb = 0;
};

// Upstream's sizing: vCPUs and memory together (processors = vCPUs, memory = MiB/1024 rounded
// up), else the machine_type annotation "<systype>-<procs>x<memGB>", else the configuration.
Result<PowerVsSize> sizeFor(const InstanceSpec& spec, const PowerVsConfig& config);
// The server name for an adaptor instance name: at most 47 characters, keeping the trailing
// "-<sandbox id prefix>".
std::string serverName(const std::string& instanceName);
// Whether a server name is one of ours for this sandbox id ("" = any sandbox): it starts with
// "podvm-" and its last dash-separated part is a prefix of at least 8 characters of the id.
bool nameMatchesSandbox(const std::string& name, const std::string& sandboxId);

class PowerVsProvider final : public Provider {
 public:
  // Checks the configuration, sets up IAM and looks up the account id (one IAM Identity call
  // unless -powervs-account-id is set), as upstream's NewProvider does.
  static Result<std::unique_ptr<PowerVsProvider>> create(const PowerVsConfig& config,
                                                         PowerVsDependencies deps = {});

  Result<Instance> createInstance(const CreateRequest& request) override;
  Status deleteInstance(const std::string& id) override;
  Status verifyConfig() override;
  Result<std::vector<Instance>> listInstances(const std::string& tag) override;

  const PowerVsConfig& config() const { return config_; }
  PowerVsClient& client() { return *client_; }
  // The PVMInstanceCreate body for a request (exposed for tests).
  Result<nlohmann::json> instanceBody(const CreateRequest& request) const;

 private:
  PowerVsProvider(PowerVsConfig config, PowerVsDependencies deps)
      : config_(std::move(config)), deps_(std::move(deps)) {}
  Status waitActive(const std::string& id, const std::string& name);
  Result<std::vector<std::string>> discoverIps(const std::string& id);
  Result<std::string> dhcpLeaseIp(const PvmNetwork& nic);
  void sleepFor(std::chrono::milliseconds d) const;

  PowerVsConfig config_;
  PowerVsDependencies deps_;
  std::unique_ptr<PowerVsClient> client_;
};

}  // namespace pp::providers::powervs
