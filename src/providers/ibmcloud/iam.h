// IBM Cloud IAM access tokens, shared by the ibmcloud (VPC) and ibmcloud-powervs providers.
// Two grants, as upstream's providers use them through IBM's Go SDK core:
// - an API key (-api-key): grant_type=urn:ibm:params:oauth:grant-type:apikey;
// - a trusted profile (-iam-profile-id) with a compute-resource token, the projected service
//   account token in -cr-token-filename: grant_type=urn:ibm:params:oauth:grant-type:cr-token.
//   The file is read again for every token request, since the kubelet rotates it.
// The token endpoint is posted a form (application/x-www-form-urlencoded) and answers JSON
// {access_token, expires_in, expiration, ...}; tokens are cached by the kit's BearerTokenCache,
// refreshed before they expire and dropped after a 401. Throttling (429), 5xx and transport
// failures of the token endpoint are retried with the kit's Retrier. Neither the key, the CR
// token nor an access token is ever logged or put in an error message; IAM's own error
// (errorCode, errorMessage) is.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"
#include "net/http_client.h"
#include "providers/bearer_token_cache.h"
#include "providers/cloud_api.h"

namespace pp::providers::ibmcloud {

// Upstream's -iam-service-url default (the full token URL).
inline constexpr char kDefaultIamUrl[] = "https://iam.cloud.ibm.com/identity/token";
inline constexpr char kDefaultCrTokenFile[] = "/var/run/secrets/tokens/vault-token";
inline constexpr char kIamTokenPath[] = "/identity/token";
inline constexpr char kApiKeyGrant[] = "urn:ibm:params:oauth:grant-type:apikey";
inline constexpr char kCrTokenGrant[] = "urn:ibm:params:oauth:grant-type:cr-token";

struct IamSettings {
  std::string apiKey;     // -api-key (IBMCLOUD_API_KEY): the API-key grant
  std::string profileId;  // -iam-profile-id: a trusted profile, with the CR token file
  std::string crTokenFile = kDefaultCrTokenFile;  // -cr-token-filename, re-read at every fetch
  std::string tokenUrl = kDefaultIamUrl;          // -iam-service-url
};

// The URL tokens are posted to. Like IBM's SDKs, `url` may be the IAM base URL
// ("https://iam.cloud.ibm.com") or the full token URL (upstream's flag default); both give
// "<base>/identity/token". Empty means the default.
std::string iamTokenEndpoint(std::string_view url);

// The detail of an IAM error answer ({errorCode, errorMessage}, or OAuth's {error,
// error_description}), at most 400 bytes; "" when the body has none. Untrusted input
// (tests/fuzz/fuzz_ibm_errors).
std::string iamErrorText(const std::string& body);

// How the token endpoint is called; tests shorten the waits.
struct IamCallOptions {
  net::HttpClient http;
  RetryPolicy retry{.maxAttempts = 5,
                    .base = std::chrono::milliseconds(500),
                    .cap = std::chrono::milliseconds(10000),
                    .budget = std::chrono::milliseconds(30000)};
  Retrier::Sleep sleep;  // default: really sleep
  std::chrono::milliseconds timeout{30000};
};

// IBM IAM bearer tokens through the kit's BearerTokenCache (cached, refreshed before expiry,
// dropped after a 401).
class IamTokenSource final : public BearerTokenCache {
 public:
  // Neither an API key nor a profile id is an error naming both flags. With an API key the
  // profile is not used (upstream's order). `logComponent` names the provider in log lines.
  static Result<std::unique_ptr<IamTokenSource>> create(IamSettings s, std::string logComponent,
                                                        Clock clock = {},
                                                        IamCallOptions options = {});
  std::string describe() const override;
  const std::string& endpoint() const { return endpoint_; }
  bool usesApiKey() const { return !settings_.apiKey.empty(); }

 protected:
  Result<Token> fetch(std::chrono::system_clock::time_point now) override;

 private:
  IamTokenSource(IamSettings s, std::string logComponent, Clock clock, IamCallOptions options);
  Result<std::string> formBody() const;

  IamSettings settings_;
  std::string endpoint_;
  IamCallOptions options_;
  Retrier retrier_;
};

}  // namespace pp::providers::ibmcloud
