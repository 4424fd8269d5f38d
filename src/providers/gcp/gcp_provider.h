// The gcp provider: a pod VM is a Compute Engine instance (upstream src/cloud-providers/gcp). Flags
// and environment variables are upstream's; the Compute Engine REST API is called through our
// own client (compute_client.h) with a service-account key or the metadata server's token.
//
// Differences from upstream, on purpose:
// - a create that fails after instances.insert deletes the instance, so nothing leaks;
// - inserts and deletes carry a requestId and are retried on rate limits and 5xx;
// - sizing annotations choose the machine type from -machine-types (GCP_INSTANCE_TYPES as
//   upstream, or our earlier GCP_MACHINE_TYPES) or, when that is empty, from the zone's machine
//   types of the same series as -machine-type (e2-medium: e2-*), which keeps a confidential
//   type's series (upstream then has -machine-type alone); the configured type stays the default;
// - resource manager tags (-tags) are set at insert time (instance params.resourceManagerTags),
//   not bound afterwards, so an instance never exists half-tagged;
// - instances carry peerpods-* labels, so orphans can be listed (listInstances);
// - the external NAT address, which upstream always adds, can be turned off (-gcp-external-nat).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/flags.h"
#include "net/http_client.h"
#include "providers/gcp/compute_client.h"
#include "providers/gcp/gcp_auth.h"
#include "providers/instance_type.h"
#include "providers/provider.h"

namespace pp::providers::gcp {

inline constexpr char kLabelSandbox[] = "peerpods-sandbox";
inline constexpr char kLabelPod[] = "peerpods-pod";
inline constexpr char kLabelNamespace[] = "peerpods-namespace";
inline constexpr char kLabelNode[] = "peerpods-node";
inline constexpr char kDefaultResourceManagerEndpoint[] =
    "https://cloudresourcemanager.googleapis.com/v3";
// GCE metadata values are limited to 256 KiB each.
inline constexpr size_t kMaxUserDataBytes = 192 << 10;

struct GcpConfig {
  // Upstream's flags.
  std::string credentials;  // the service account key JSON (or, ours, a path to it)
  std::string projectId, zone;
  std::string imageName;
  std::string machineType;
  std::string network, subnetwork;
  std::string diskType;
  bool disableCvm = false;
  std::string confidentialType;  // SEV, SEV_SNP, TDX
  int64_t rootVolumeSize = 10;
  bool usePublicIp = false;
  std::map<std::string, std::string> tags;
  // Ours.
  std::vector<std::string> machineTypes;  // allow-list / table for sizing annotations
  bool externalNat = true;
  std::string computeEndpoint = kDefaultComputeEndpoint;
  std::string tokenEndpoint;
  std::string resourceManagerEndpoint = kDefaultResourceManagerEndpoint;
  double mutatingCallsPerSecond = 2;
  std::chrono::nanoseconds operationTimeout{std::chrono::minutes(5)};
  std::string nodeName;  // label peerpods-node; from NODE_NAME
};

void registerGcpFlags(flags::FlagSet& flags, GcpConfig& config);

// What the provider needs from outside; tests substitute each.
struct GcpDependencies {
  flags::EnvLookup env = flags::processEnv();
  net::HttpClient http;
  Retrier::Sleep sleep;  // backoff waits (default: really sleep)
  Clock clock;
  std::shared_ptr<TokenSource> tokens;  // default: from the config (makeTokenSource)
};

class GcpProvider final : public Provider {
 public:
  // Checks the configuration and sets up credentials; calls no Compute API.
  static Result<std::unique_ptr<GcpProvider>> create(const GcpConfig& config,
                                                     GcpDependencies deps = {});

  Result<Instance> createInstance(const CreateRequest& request) override;
  Status deleteInstance(const std::string& id) override;
  Status verifyConfig() override;
  Result<std::vector<Instance>> listInstances(const std::string& tag) override;

  const GcpConfig& config() const { return config_; }
  ComputeClient& compute() { return *compute_; }
  // The instances.insert body for a request (exposed for tests); makes the lookups it needs.
  Result<nlohmann::json> instanceBody(const CreateRequest& request);
  // The machine type for a request: the annotation, the sizing annotations or the default.
  Result<std::string> machineTypeFor(const InstanceSpec& spec);

 private:
  GcpProvider(GcpConfig config, GcpDependencies deps)
      : config_(std::move(config)), deps_(std::move(deps)) {}
  Result<std::string> sourceImage(const InstanceSpec& spec) const;
  Result<int64_t> diskSizeGb(const std::string& image);
  Result<std::map<std::string, std::string>> resourceManagerTags();
  std::string subnetworkPath() const;

  GcpConfig config_;
  GcpDependencies deps_;
  std::unique_ptr<ComputeClient> compute_;

  std::mutex lookupMu_;
  bool typesLoaded_ = false;
  std::vector<InstanceTypeInfo> typeTable_;
  std::vector<std::string> allowedTypes_;
  std::map<std::string, int64_t> imageSizes_;
  bool tagsLoaded_ = false;
  std::map<std::string, std::string> tagIds_;  // tagKeys/... -> tagValues/...
};

// A GCE label value: lowercase letters, digits, '-' and '_', at most 63 characters.
std::string labelValue(std::string_view text);

}  // namespace pp::providers::gcp
