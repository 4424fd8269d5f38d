// AWS Signature Version 4 (header form), as the EC2 Query API and STS require: canonical
// request, string to sign, the four-step HMAC key derivation and the Authorization header.
// Nothing here logs; the signing key and the secret stay in memory only.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pp::providers::aws {

struct Credentials {
  std::string accessKeyId;
  std::string secretAccessKey;
  std::string sessionToken;  // empty for long-term keys
  // When the credentials stop working; time_point{} = never (static keys).
  std::chrono::system_clock::time_point expiration{};
  std::string source;  // "static", "env", "profile <name>", "web identity", "imds" (for logs)

  bool valid() const { return !accessKeyId.empty() && !secretAccessKey.empty(); }
};

// One request to sign. `headers` must not yet contain Authorization or X-Amz-Date; sign()
// adds X-Amz-Date, X-Amz-Security-Token (with a session token) and Authorization. Every
// header present is signed; include Host (host[:port] exactly as sent).
struct SigningRequest {
  std::string method = "POST";
  std::string path = "/";  // decoded path; the canonical form encodes it
  std::string query;       // raw query string as sent ("" for none)
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct SigningScope {
  std::string region;
  std::string service;
  std::chrono::system_clock::time_point time;
};

// "20150830T123600Z" for a time point.
std::string amzDate(std::chrono::system_clock::time_point t);

// Lowercase hex SHA-256 of data.
std::string sha256Hex(std::string_view data);
// Raw HMAC-SHA256.
std::string hmacSha256(std::string_view key, std::string_view data);

// The pieces, exposed for the test vectors.
std::string canonicalQueryString(std::string_view query);
std::string canonicalRequest(const SigningRequest& request, std::string* signedHeaders);
std::string stringToSign(const SigningScope& scope, const std::string& canonicalRequest);
std::string signingKey(std::string_view secret, const SigningScope& scope);

// Adds X-Amz-Date, X-Amz-Security-Token (when the credentials have one) and Authorization to
// request.headers.
void sign(SigningRequest& request, const Credentials& credentials, const SigningScope& scope);

// SigV4's URI encoding: RFC 3986 unreserved characters stay, everything else %XX (uppercase).
std::string uriEncode(std::string_view text, bool encodeSlash = true);

}  // namespace pp::providers::aws
