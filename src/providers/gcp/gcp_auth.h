// Access tokens for the Compute Engine API: a service-account JSON key (an RS256-signed JWT
// exchanged at the key's token_uri, RFC 7523 "jwt-bearer" grant) or the metadata server of the
// VM the adaptor runs on (GCE_METADATA_HOST overrides its address, as the Google SDKs do).
// Tokens are cached and refreshed five minutes before they expire. Neither the key nor any
// token is ever logged; errors name the endpoint and the server's error code only.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "base/error.h"
#include "base/flags.h"
#include "net/http_client.h"
#include "providers/bearer_token_cache.h"

namespace pp::providers::gcp {

inline constexpr char kComputeScope[] = "https://www.googleapis.com/auth/compute";
// Added when -tags is set: tagValues.getNamespaced needs it.
inline constexpr char kReadOnlyScope[] = "https://www.googleapis.com/auth/cloud-platform.read-only";
inline constexpr char kDefaultTokenUri[] = "https://oauth2.googleapis.com/token";
inline constexpr char kDefaultMetadataHost[] = "metadata.google.internal";

// The fields we use of a "type": "service_account" key file.
struct ServiceAccountKey {
  std::string clientEmail;
  std::string privateKeyId;
  std::string privateKeyPem;  // PKCS#8 PEM
  std::string tokenUri;
  std::string projectId;
};

// Parses a key file's JSON strictly: must be an object of type service_account with a
// client_email and an RSA private_key; token_uri defaults to Google's. Errors never quote the key.
Result<ServiceAccountKey> parseServiceAccountKey(std::string_view json);

// The signed assertion: header {alg RS256, typ JWT, kid}, claims {iss, scope, aud = token_uri,
// iat, exp = iat + 1 h}, base64url without padding, RS256 (RSASSA-PKCS1-v1_5 SHA-256).
Result<std::string> makeJwtAssertion(const ServiceAccountKey& key, const std::string& scope,
                                     std::chrono::system_clock::time_point now);

using AccessToken = BearerTokenCache::Token;

// Reads a token endpoint's answer ({access_token, expires_in, token_type: Bearer}, or an error
// status with {error, error_description}); `where` names the endpoint in errors.
Result<AccessToken> parseTokenResponse(const net::HttpResponse& r, const std::string& where,
                                       std::chrono::system_clock::time_point now);

// Where bearer tokens come from: a key or the metadata server, cached by the kit's
// BearerTokenCache.
using TokenSource = BearerTokenCache;

class ServiceAccountTokenSource final : public TokenSource {
 public:
  // `tokenEndpoint` replaces the key's token_uri as the address posted to (the JWT audience
  // stays token_uri); empty keeps token_uri.
  ServiceAccountTokenSource(net::HttpClient http, ServiceAccountKey key, std::string scope,
                            std::string tokenEndpoint, Clock clock);
  std::string describe() const override;

 protected:
  Result<Token> fetch(std::chrono::system_clock::time_point now) override;

 private:
  net::HttpClient http_;
  ServiceAccountKey key_;
  std::string scope_;
  std::string endpoint_;
};

class MetadataTokenSource final : public TokenSource {
 public:
  // `host` is GCE_METADATA_HOST's form: "host" or "host:port" (plain HTTP, as the metadata
  // server speaks); `tokenUrl`, when set, replaces the whole URL.
  MetadataTokenSource(net::HttpClient http, std::string host, std::string tokenUrl, Clock clock);
  std::string describe() const override { return "the metadata server (" + url_ + ")"; }

 protected:
  Result<Token> fetch(std::chrono::system_clock::time_point now) override;

 private:
  net::HttpClient http_;
  std::string url_;
};

struct TokenSourceInputs {
  std::string credentialsJson;        // -gcp-credentials: the key file's content (or a path to it)
  std::string tokenEndpoint;          // -gcp-token-endpoint
  std::string scope = kComputeScope;  // space-separated OAuth scopes
  flags::EnvLookup env;               // GOOGLE_APPLICATION_CREDENTIALS, GCE_METADATA_HOST
  net::HttpClient http;
  Clock clock;
};

// Credentials in the order the Google SDKs use: the configured key, the key file named by
// GOOGLE_APPLICATION_CREDENTIALS, then the metadata server.
Result<std::shared_ptr<TokenSource>> makeTokenSource(const TokenSourceInputs& in);

}  // namespace pp::providers::gcp
