// IBM Power Virtual Server REST API client: the pvm-instances, DHCP-server and network calls of
// one workspace (service instance), as IBM's power-go-client makes them. Every call carries an
// IAM bearer token and the workspace's CRN header. JSON answers are parsed strictly; PowerVS
// errors ({code, description, error, message}, or the platform's {errors:[{code, message}]})
// keep their HTTP status and text. Throttling (429), 5xx, transport failures and (on delete
// only) 409 "busy" answers are retried by the kit's ApiCallPolicy with full-jitter backoff,
// honouring Retry-After; a 401 refreshes the token once. The create is never blindly re-posted
// (PowerVS has no idempotency key): see createInstance.
//
// Also here: the IAM Identity call that maps an API key to its account id (the CRN needs it),
// and the zone -> region -> endpoint rules of power-go-client.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "net/http_client.h"
#include "providers/bearer_token_cache.h"
#include "providers/cloud_api.h"

namespace pp::providers::powervs {

inline constexpr char kDefaultIamBaseUrl[] = "https://iam.cloud.ibm.com";

// power-go-client's region of a zone: a zone with a dash loses a trailing "-<digits>"
// ("eu-de-1" -> "eu-de", "us-south" -> "us-south"), a data-centre name its trailing digits
// ("dal12" -> "dal", "lon04" -> "lon").
std::string regionFromZone(std::string_view zone);
// "https://<region>.power-iaas.cloud.ibm.com".
std::string defaultEndpoint(std::string_view zone);
// A configured endpoint as a base URL: a bare host (power-go-client's IBMCLOUD_POWER_API_ENDPOINT
// form) gets "https://"; trailing slashes go.
std::string normalizeEndpoint(std::string_view endpoint);
// The workspace CRN every call carries:
// "crn:v1:bluemix:public:power-iaas:<zone>:a/<account>:<service instance>::".
std::string workspaceCrn(std::string_view zone, std::string_view accountId,
                         std::string_view serviceInstanceId);

// A failed call as PowerVS (or IAM Identity) reported it.
struct PowerVsError {
  long httpStatus = 0;  // 0: transport failure or no usable token
  std::string code;     // "error" of the body (e.g. "bad request"), or errors[0].code
  std::string message;  // "description" / "message" of the body
  std::optional<std::chrono::milliseconds> retryAfter;
  bool credentials = false;  // the token could not be had for a reason retrying does not fix
  Error toError(const std::string& context) const;
};

// An error answer as the client reads it: PowerVS's {code, description, error, message}, the
// platform's {errors: [{code, message}]} or IAM Identity's {errorCode, errorMessage}, bounded;
// Retry-After. Untrusted input (tests/fuzz/fuzz_ibm_errors).
PowerVsError parsePowerVsError(const net::HttpResponse& response);

struct PvmNetwork {
  std::string networkId, ipAddress, externalIp, macAddress, type;
};

struct PvmInstance {
  std::string id;    // pvmInstanceID
  std::string name;  // serverName
  std::string status;
  std::string fault;  // fault.message / fault.details when in ERROR
  std::vector<PvmNetwork> networks;
};

struct DhcpLease {
  std::string ip, mac;
};

struct DhcpServer {
  std::string id, networkId, status;
  std::vector<DhcpLease> leases;  // only from getDhcpServer
};

struct PowerVsClientOptions {
  std::string endpoint;  // "https://<region>.power-iaas.cloud.ibm.com"
  std::string serviceInstanceId;
  std::string crn;
  double mutatingCallsPerSecond = 2;  // <= 0: unlimited
  RetryPolicy retry;
  Retrier::Sleep sleep;
  std::chrono::milliseconds timeout{60000};
};

class PowerVsClient {
 public:
  PowerVsClient(net::HttpClient http, std::shared_ptr<BearerTokenCache> tokens,
                PowerVsClientOptions options);

  // One call with retries; `path` is below "/pcloud/v1/cloud-instances/<id>" ("/pvm-instances").
  std::expected<nlohmann::json, PowerVsError> call(const std::string& method,
                                                   const std::string& path,
                                                   const nlohmann::json* body, bool mutating);

  // POST pvm-instances (a PVMInstanceCreate); the answer is a PVMInstanceList, of which the
  // first entry is returned. PowerVS takes no idempotency key, so a POST whose answer was lost
  // (transport failure, 5xx) is not simply sent again: the next attempt first looks for an
  // instance of that serverName and adopts it. Throttling (429) is retried as it made nothing.
  // `mayExist` tells the caller, on failure, whether an instance may have been made.
  Result<PvmInstance> createInstance(const nlohmann::json& body, bool& mayExist);
  // The instance called `name` (the newest one), nullopt when there is none.
  Result<std::optional<PvmInstance>> findByName(const std::string& name);
  Result<PvmInstance> getInstance(const std::string& id);
  // GET pvm-instances: every instance of the workspace.
  Result<std::vector<PvmInstance>> listInstances();
  // DELETE; an instance that is gone (404, 410) is success.
  Status deleteInstance(const std::string& id);
  Result<std::vector<DhcpServer>> listDhcpServers();
  Result<DhcpServer> getDhcpServer(const std::string& id);
  // GET networks/<id>: its name and type (for -cloud-config-verify).
  Result<nlohmann::json> getNetwork(const std::string& id);
  Result<nlohmann::json> getImage(const std::string& id);

  const PowerVsClientOptions& options() const { return options_; }

 private:
  std::expected<nlohmann::json, PowerVsError> attempt(const std::string& method,
                                                      const std::string& url,
                                                      const std::string& body);

  net::HttpClient http_;
  std::shared_ptr<BearerTokenCache> tokens_;
  PowerVsClientOptions options_;
  ApiCallPolicy calls_;
};

// IAM Identity GetAPIKeysDetails (GET <iam>/v1/apikeys/details, header IAM-Apikey): the
// account id the key belongs to. Retried on 429/5xx/transport failures.
Result<std::string> lookupAccountId(const net::HttpClient& http, BearerTokenCache& tokens,
                                    const std::string& iamBaseUrl, const std::string& apiKey,
                                    const RetryPolicy& retry, const Retrier::Sleep& sleep);

// Readers of the answers (exposed for tests); nullopt when a required field is missing or of
// the wrong type.
std::optional<PvmInstance> parseInstance(const nlohmann::json& j);
std::optional<DhcpServer> parseDhcpServer(const nlohmann::json& j);

}  // namespace pp::providers::powervs
