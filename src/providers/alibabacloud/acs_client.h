// The RPC-style OpenAPI client of the alibabacloud provider (ECS 2014-05-26 and VPC 2016-04-28):
// one POST to "<endpoint>/?<parameters>" per call, signed with ACS3-HMAC-SHA256 (acs3.h), the
// action and version in x-acs-action / x-acs-version as the SDKs send them. Answers must be JSON
// objects; errors keep Alibaba's body ({RequestId, Code, Message}) for the message. Throttling
// (Code Throttling, Throttling.User, Throttling.Api, ...), 5xx, ServiceUnavailable and
// transport failures are retried by the kit's Retrier (mutating calls also wait for the
// client-side token bucket); an expired STS token is fetched again once.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "net/http_client.h"
#include "providers/alibabacloud/credentials.h"
#include "providers/cloud_api.h"

namespace pp::providers::alibabacloud {

inline constexpr char kEcsVersion[] = "2014-05-26";
inline constexpr char kVpcVersion[] = "2016-04-28";

using Params = std::map<std::string, std::string>;

// A failed call as Alibaba reported it.
struct AcsError {
  long httpStatus = 0;  // 0: transport failure
  std::string code;     // "InvalidInstanceId.NotFound", "Throttling.User", ...
  std::string message;
  std::string requestId;
  std::optional<std::chrono::milliseconds> retryAfter;
  bool throttled() const { return code.rfind("Throttling", 0) == 0; }
  // `context` + ": " + "<Code>: <Message> (HTTP n, RequestId r)", with a code a user acts on.
  Error toError(const std::string& context) const;
};

struct AcsClientOptions {
  std::string endpoint;  // "https://ecs.cn-beijing.aliyuncs.com" or a test server's URL
  std::string version;   // kEcsVersion, kVpcVersion
  double mutatingCallsPerSecond = 2;
  RetryPolicy retry;
  Retrier::Sleep sleep;
  Clock clock;
  std::chrono::milliseconds timeout{30000};
};

class AcsClient {
 public:
  AcsClient(net::HttpClient http, std::shared_ptr<CredentialCache> credentials,
            AcsClientOptions options);
  // One action with retries.
  std::expected<nlohmann::json, AcsError> call(const std::string& action, const Params& params,
                                               bool mutating);
  const AcsClientOptions& options() const { return options_; }

 private:
  std::expected<nlohmann::json, AcsError> attempt(const std::string& action, const Params& params);

  net::HttpClient http_;
  std::shared_ptr<CredentialCache> credentials_;
  AcsClientOptions options_;
  std::string host_;  // the Host header signed and sent
  ApiCallPolicy calls_;
};

// An error answer as the client reads it: Alibaba's {Code, Message, RequestId} (bounded) or the
// start of another body; x-acs-retry-after (ms) or Retry-After. Untrusted input
// (tests/fuzz/fuzz_alibaba_json).
AcsError parseAcsError(const net::HttpResponse& response);

// "host[:port]" of an http(s) URL; "" when it is not one.
std::string hostOfUrl(const std::string& url);

}  // namespace pp::providers::alibabacloud
