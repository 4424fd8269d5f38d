// Compute Engine REST API (v1) client: the instance, zone-operation, machine-type and image
// calls the provider makes. JSON answers are parsed strictly (nothing is trusted to have a
// field or a type); GCP errors keep their HTTP code, reason and message. Rate-limit errors
// (429, 403 rateLimitExceeded/userRateLimitExceeded), 5xx and transport failures are retried
// with full-jitter backoff, honouring Retry-After; a 401 refreshes the token once. Mutating
// calls wait for a client-side token bucket and carry a requestId, so a retried insert or
// delete is applied once.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "net/http_client.h"
#include "providers/cloud_api.h"
#include "providers/gcp/gcp_auth.h"
#include "providers/instance_type.h"

namespace pp::providers::gcp {

inline constexpr char kDefaultComputeEndpoint[] = "https://compute.googleapis.com/compute/v1";

struct ComputeClientOptions {
  std::string endpoint = kDefaultComputeEndpoint;  // up to and including "/compute/v1"
  std::string project;
  std::string zone;
  double mutatingCallsPerSecond = 2;  // <= 0: unlimited
  RetryPolicy retry;
  Retrier::Sleep sleep;
  std::chrono::milliseconds timeout{60000};
  // zoneOperations.wait holds the request for up to 2 minutes before it answers.
  std::chrono::milliseconds waitCallTimeout{150000};
  // Pause between wait calls that came back early without DONE (an overloaded server may
  // answer at once), so that waiting does not become a busy loop.
  std::chrono::milliseconds earlyWaitPause{1000};
  // How long to wait for an operation to finish (zoneOperations.wait is called repeatedly).
  std::chrono::milliseconds operationTimeout{std::chrono::minutes(5)};
};

// A failed call as GCP reported it.
struct GcpError {
  long httpStatus = 0;  // 0: transport failure
  std::string reason;   // errors[0].reason, e.g. rateLimitExceeded, notFound
  std::string message;
  std::optional<std::chrono::milliseconds> retryAfter;
  Error toError(const std::string& context) const;
};

struct GcpInstance {
  std::string name;
  std::string id;      // numeric, as a string
  std::string status;  // PROVISIONING, STAGING, RUNNING, STOPPING, TERMINATED, ...
  std::vector<std::string> internalIps;  // networkInterfaces[].networkIP
  std::vector<std::string> natIps;       // networkInterfaces[].accessConfigs[].natIP
  std::map<std::string, std::string> labels;
};

struct GcpOperation {
  std::string name;
  std::string status;  // PENDING, RUNNING, DONE
  // When DONE with an error: the first error's code and message, and the HTTP status.
  std::string errorCode, errorMessage;
  long httpErrorStatusCode = 0;
  bool failed() const { return !errorCode.empty() || !errorMessage.empty(); }
};

class ComputeClient {
 public:
  ComputeClient(net::HttpClient http, std::shared_ptr<TokenSource> tokens,
                ComputeClientOptions options);

  // One call with retries. `path` is relative to the endpoint ("/projects/..."). 2xx answers
  // must be JSON objects.
  std::expected<nlohmann::json, GcpError> call(const std::string& method, const std::string& path,
                                               const nlohmann::json* body, bool mutating,
                                               std::chrono::milliseconds timeout = {});

  // instances.insert (with a fresh requestId): the operation it started.
  Result<GcpOperation> startInsert(const nlohmann::json& instance);
  // startInsert, then waits for the operation to finish.
  Status insertInstance(const nlohmann::json& instance);
  // instances.delete and wait; an instance that does not exist is success.
  Status deleteInstance(const std::string& name);
  Result<GcpInstance> getInstance(const std::string& name);
  // instances.list with a filter, following pages (at most 50).
  Result<std::vector<GcpInstance>> listInstances(const std::string& filter);
  // zoneOperations.wait until DONE or the operation timeout; a DONE operation with an error
  // becomes that error.
  Status waitOperation(const GcpOperation& op, const std::string& what);
  // machineTypes.list for the zone (all pages), or only the named ones when `names` is set.
  Result<std::vector<InstanceTypeInfo>> listMachineTypes(const std::vector<std::string>& names);
  // images.get; the image's disk size in GB (0 when not given).
  Result<int64_t> imageDiskSizeGb(const std::string& project, const std::string& image);

  const ComputeClientOptions& options() const { return options_; }
  std::string zonePath() const;  // "/projects/<p>/zones/<z>"

 private:
  std::expected<nlohmann::json, GcpError> attempt(const std::string& method, const std::string& url,
                                                  const std::string& body,
                                                  std::chrono::milliseconds timeout);

  net::HttpClient http_;
  std::shared_ptr<TokenSource> tokens_;
  ComputeClientOptions options_;
  ApiCallPolicy calls_;
};

// Reads an Operation resource; nullopt when it lacks a name or status.
std::optional<GcpOperation> parseOperation(const nlohmann::json& j);
// Reads an Instance resource; nullopt when it lacks a name.
std::optional<GcpInstance> parseInstance(const nlohmann::json& j);
// Reads a MachineType resource; nullopt when its name, guestCpus or memoryMb is missing or absurd.
std::optional<InstanceTypeInfo> parseMachineType(const nlohmann::json& j);
// An error answer: status, the API's reason and message (bounded), Retry-After.
GcpError parseError(const net::HttpResponse& r);
// A random RFC 4122 version 4 UUID (requestId).
std::string newRequestId();

}  // namespace pp::providers::gcp
