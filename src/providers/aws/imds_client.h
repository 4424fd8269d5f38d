// EC2 instance metadata service (IMDSv2 only): a session token from PUT /latest/api/token,
// sent with every GET; a 401 renews the token once. The endpoint is http://169.254.169.254
// unless AWS_EC2_METADATA_SERVICE_ENDPOINT (or ..._ENDPOINT_MODE=IPv6) says otherwise, and
// AWS_EC2_METADATA_DISABLED=true turns it off, as in the AWS SDKs.
#pragma once

#include <chrono>
#include <mutex>
#include <string>

#include "base/error.h"
#include "base/flags.h"
#include "net/http_client.h"

namespace pp::providers::aws {

class ImdsClient {
 public:
  // Resolves the endpoint from the environment.
  ImdsClient(net::HttpClient http, const flags::EnvLookup& env);

  bool disabled() const { return disabled_; }
  const std::string& endpoint() const { return endpoint_; }

  // GET /latest/<path> ("meta-data/placement/region"); NOT_FOUND for 404. Bodies over 64 KiB
  // are refused.
  Result<std::string> get(const std::string& path);

 private:
  Result<std::string> token(bool renew);

  net::HttpClient http_;
  std::string endpoint_;
  bool disabled_ = false;
  std::chrono::milliseconds timeout_{2000};
  std::mutex mu_;
  std::string token_;
  std::chrono::steady_clock::time_point tokenExpiry_{};
};

}  // namespace pp::providers::aws
