// Microsoft Entra access tokens for Azure Resource Manager: client secret (OAuth2 client
// credentials), workload identity (client credentials with the federated token file as client
// assertion) and managed identity (the IMDS token endpoint, header Metadata: true). A token is
// cached and shared by all calls until five minutes before it expires. Tokens and secrets are
// never logged.
#pragma once

#include <chrono>
#include <string>

#include "base/error.h"
#include "net/http_client.h"
#include "providers/bearer_token_cache.h"

namespace pp::providers::azure {

enum class AuthMode { kClientSecret, kWorkloadIdentity, kManagedIdentity };
const char* authModeName(AuthMode mode);

struct AuthOptions {
  AuthMode mode = AuthMode::kClientSecret;
  std::string authorityHost;    // https://login.microsoftonline.com (no trailing slash)
  std::string resourceManager;  // https://management.azure.com; the token's audience
  // The token's audience when it is not the Resource Manager URL itself (an endpoint reached
  // through a proxy or an alias, Azure Stack Hub); "" = resourceManager.
  std::string audience;
  std::string tenantId, clientId;
  std::string clientSecret;                             // kClientSecret
  std::string federatedTokenFile;                       // kWorkloadIdentity
  std::string imdsEndpoint = "http://169.254.169.254";  // kManagedIdentity
};

// Entra tokens for one credential, cached by the kit's BearerTokenCache.
class TokenSource final : public BearerTokenCache {
 public:
  TokenSource(net::HttpClient http, AuthOptions options, Clock clock);
  AuthMode mode() const { return options_.mode; }
  std::string describe() const override { return authModeName(options_.mode); }

 protected:
  Result<Token> fetch(std::chrono::system_clock::time_point now) override;

 private:
  Result<std::string> request(std::chrono::seconds* lifetime);

  net::HttpClient http_;
  AuthOptions options_;
};

// Parses a token endpoint answer ({"access_token", "expires_in"} as number or string); strict
// and bounded. Exposed for tests.
Result<std::string> parseTokenResponse(const std::string& body, std::chrono::seconds* lifetime);

}  // namespace pp::providers::azure
