// IBM Cloud VPC API (/v1, API version kVpcApiVersion, generation 2) and Global Tagging API (/v3)
// client: the calls the ibmcloud provider makes. Every VPC request carries the `version` and
// `generation=2` query parameters and an IAM bearer token. JSON answers are parsed strictly;
// errors keep IBM's error body ({"errors": [{"code", "message"}], "trace"}) in the message.
// Throttling (429), 5xx and transport failures are retried with the kit's backoff (honouring
// Retry-After); a 401 refreshes the token once; mutating calls wait for a token bucket.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "net/http_client.h"
#include "providers/bearer_token_cache.h"
#include "providers/cloud_api.h"

namespace pp::providers::ibmcloud {

// The VPC API version date we speak (confidential_compute_mode needs 2024-09 or later).
inline constexpr char kVpcApiVersion[] = "2025-04-08";
inline constexpr char kDefaultTaggingUrl[] = "https://tags.global-search-tagging.cloud.ibm.com";

struct VpcClientOptions {
  std::string vpcUrl;      // up to and including "/v1"
  std::string taggingUrl;  // Global Tagging base, without "/v3"
  double mutatingCallsPerSecond = 2;
  RetryPolicy retry;
  Retrier::Sleep sleep;
  std::chrono::milliseconds timeout{60000};
};

// A failed call as IBM reported it.
struct IbmError {
  long httpStatus = 0;  // 0: transport failure or no token
  std::string code;     // errors[0].code, e.g. not_found, validation_required_field_missing
  std::string message;  // errors[].message, joined
  std::string trace;    // the request's trace id (for IBM support)
  std::optional<std::chrono::milliseconds> retryAfter;
  Error toError(const std::string& context) const;
};

// An error answer (HTTP status, headers and body) as the client reads it: bounded code, message
// and trace from IBM's {"errors": [{code, message}], "trace"} body, Retry-After. Untrusted
// input (tests/fuzz/fuzz_ibm_errors).
IbmError parseIbmError(const net::HttpResponse& response);

struct VpcInstance {
  std::string id, crn, name, status;
  // Primary NIC first, then the others; "" (or 0.0.0.0) where no address is assigned yet.
  std::vector<std::string> nicIps;
};

struct VpcProfile {
  std::string name;
  uint32_t vcpus = 0;
  uint32_t memoryMiB = 0;
  std::string architecture;  // amd64, s390x, ...
};

struct VpcImage {
  std::string id;
  std::string architecture;  // operating_system.architecture
  std::string os;            // operating_system.name
  std::string status;
};

struct VpcSubnet {
  std::string id, vpcId, resourceGroupId, zone;
};

class VpcClient {
 public:
  VpcClient(net::HttpClient http, std::shared_ptr<BearerTokenCache> tokens,
            VpcClientOptions options);

  // One VPC call with retries. `path` is relative to the VPC URL ("/instances"), `query` extra
  // parameters already encoded ("name=x"); version and generation are added.
  std::expected<nlohmann::json, IbmError> vpcCall(const std::string& method,
                                                  const std::string& path, const std::string& query,
                                                  const nlohmann::json* body, bool mutating,
                                                  int* attempts = nullptr);

  // POST /instances. `attempts` tells how many requests were sent (a retried create may have
  // made an instance although the last answer was an error).
  std::expected<VpcInstance, IbmError> createInstance(const nlohmann::json& prototype,
                                                      int* attempts);
  std::expected<VpcInstance, IbmError> getInstance(const std::string& id);
  // DELETE /instances/{id}; 404 is success.
  std::expected<void, IbmError> deleteInstance(const std::string& id);
  // GET /instances with filters (name, vpc.id, ...), all pages (at most 50).
  std::expected<std::vector<VpcInstance>, IbmError> listInstances(const std::string& filters);
  std::expected<VpcProfile, IbmError> getProfile(const std::string& name);
  std::expected<VpcImage, IbmError> getImage(const std::string& id);
  std::expected<VpcSubnet, IbmError> getSubnet(const std::string& id);
  std::expected<std::string, IbmError> defaultSecurityGroup(const std::string& vpcId);

  // Global Tagging: POST /v3/tags/attach?tag_type=user on one resource CRN. A 200 answer whose
  // result says is_error is an error too.
  std::expected<void, IbmError> attachTags(const std::string& crn,
                                           const std::vector<std::string>& tags);
  // GET /v3/tags?attached_to=<crn>&tag_type=user: the resource's user tags.
  std::expected<std::vector<std::string>, IbmError> tagsOf(const std::string& crn);

  const VpcClientOptions& options() const { return options_; }

 private:
  std::expected<nlohmann::json, IbmError> call(const std::string& method, const std::string& url,
                                               const nlohmann::json* body, bool mutating,
                                               int* attempts);
  std::expected<nlohmann::json, IbmError> attempt(const std::string& method, const std::string& url,
                                                  const std::string& body);

  net::HttpClient http_;
  std::shared_ptr<BearerTokenCache> tokens_;
  VpcClientOptions options_;
  ApiCallPolicy calls_;
};

// Reads an Instance; nullopt when it lacks an id.
std::optional<VpcInstance> parseInstance(const nlohmann::json& j);

}  // namespace pp::providers::ibmcloud
