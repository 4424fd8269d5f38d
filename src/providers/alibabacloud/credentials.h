// Where the alibabacloud provider's AccessKey comes from, in the order Alibaba's credentials SDKs
// (credentials-go, which upstream uses) look:
//   1. -alibabacloud-access-key-id/-alibabacloud-secret-access-key (and
//   -alibabacloud-security-token);
//   2. ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET (/
//   ALIBABA_CLOUD_SECURITY_TOKEN);
//   3. ACK RRSA: ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN and
//      ALIBABA_CLOUD_OIDC_TOKEN_FILE -> STS AssumeRoleWithOIDC (ALIBABA_CLOUD_ROLE_SESSION_NAME,
//      ALIBABA_CLOUD_STS_REGION, ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED as the SDKs read them);
//   4. the ECS RAM role of the node, from the metadata service (100.100.100.200,
//      /latest/meta-data/ram/security-credentials/<role>; ALIBABA_CLOUD_ECS_METADATA names the
//      role, else it is looked up; IMDSv2 token first, v1 as the fallback;
//      ALIBABA_CLOUD_ECS_METADATA_DISABLED=true turns this source off).
// Temporary credentials are cached and fetched again 15 minutes before they expire (or at half
// their life when that is shorter), and at once after the service said the token expired.
// Secrets and tokens are never logged.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.h"
#include "base/flags.h"
#include "net/http_client.h"
#include "providers/alibabacloud/acs3.h"
#include "providers/cloud_api.h"

namespace pp::providers::alibabacloud {

inline constexpr char kDefaultMetadataEndpoint[] = "http://100.100.100.200";
inline constexpr char kDefaultStsEndpoint[] = "https://sts.aliyuncs.com";

class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  // Fresh credentials; `now` is the clock's time when the fetch started.
  virtual Result<AcsCredentials> fetch(std::chrono::system_clock::time_point now) = 0;
  // For log lines: "AccessKey LTAI...", "RRSA role acs:ram::1:role/x", "ECS RAM role r".
  virtual std::string describe() const = 0;
};

// The credentials every call signs with: the cached ones, refreshed before they expire.
class CredentialCache {
 public:
  CredentialCache(std::unique_ptr<CredentialSource> source, Clock clock);
  Result<AcsCredentials> get();
  // Drops the cached credentials (the service said the token expired).
  void invalidate();
  std::string describe() const { return source_->describe(); }

 private:
  std::unique_ptr<CredentialSource> source_;
  Clock clock_;
  std::mutex mu_;
  bool have_ = false;
  AcsCredentials cached_;
  std::chrono::system_clock::time_point refreshAt_;
};

struct CredentialInputs {
  std::string accessKeyId, accessKeySecret, securityToken;  // the flags
  std::string stsEndpoint;       // -alibabacloud-sts-endpoint ("" = from the environment)
  std::string metadataEndpoint;  // -alibabacloud-metadata-endpoint ("" = 100.100.100.200)
  flags::EnvLookup env;
  net::HttpClient http;
  Clock clock;
};

// Temporary credentials as STS's Credentials object and the metadata service's RAM role answer
// carry them ({AccessKeyId, AccessKeySecret, SecurityToken, Expiration}): all four required,
// bounded sizes. `where` names the source in errors. Untrusted input
// (tests/fuzz/fuzz_alibaba_json).
Result<AcsCredentials> readTemporaryCredentials(const nlohmann::json& answer,
                                                const std::string& where);

Result<std::shared_ptr<CredentialCache>> makeCredentials(const CredentialInputs& in);

}  // namespace pp::providers::alibabacloud
