// A small Azure Resource Manager REST client: bearer token per call, api-version per call,
// 429 (Retry-After / x-ms-retry-after-ms) and 5xx retried with backoff and jitter, mutating calls
// kept under a rate, ARM error bodies ({"error": {"code", "message"}}) turned into pp::Error with
// Azure's code and message, and long-running operations followed to their end
// (Azure-AsyncOperation, else Location).
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.h"
#include "net/http_client.h"
#include "providers/azure/auth.h"
#include "providers/cloud_api.h"

namespace pp::providers::azure {

struct ArmOptions {
  std::string endpoint;  // https://management.azure.com (no trailing slash)
  double mutatingCallsPerSecond = 2;
  Retrier::Sleep sleep;                          // backoff and poll waits (tests: no-op)
  std::chrono::milliseconds pollInterval{5000};  // when the service gives no Retry-After
  RetryPolicy retry;
};

struct ArmResponse {
  long status = 0;
  nlohmann::json body;  // null when empty
  std::string asyncOperation, location, retryAfter;
};

class ArmClient {
 public:
  ArmClient(net::HttpClient http, std::shared_ptr<TokenSource> tokens, ArmOptions options);

  // `path` starts with "/subscriptions/..." (or is a full URL on the ARM endpoint, for
  // nextLink and operation URLs). A 4xx/5xx answer is an error carrying Azure's code and message;
  // NOT_FOUND for 404.
  Result<ArmResponse> call(const std::string& method, const std::string& path,
                           const std::string& apiVersion, const nlohmann::json* body = nullptr);

  // Follows the long-running operation a PUT/DELETE started until it ends, at most `timeout`.
  // Failed/Canceled operations become errors with Azure's code and message.
  Status waitOperation(const ArmResponse& started, std::chrono::milliseconds timeout,
                       const std::string& what);

  const std::string& endpoint() const { return options_.endpoint; }

 private:
  std::expected<ArmResponse, AttemptError> once(const std::string& method, const std::string& url,
                                                const std::string& bodyText);

  net::HttpClient http_;
  std::shared_ptr<TokenSource> tokens_;
  ArmOptions options_;
  ApiCallPolicy calls_;
};

// "Code: message" from an ARM error body; "" when the body has none. Bounded.
std::string armErrorText(const nlohmann::json& body);

}  // namespace pp::providers::azure
