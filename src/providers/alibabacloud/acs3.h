// Alibaba Cloud's V3 request signature, ACS3-HMAC-SHA256, for RPC-style APIs (ECS 2014-05-26, VPC
// 2016-04-28). The canonical request is built exactly as Alibaba's own SDKs build it
// (@alicloud/openapi-core's getAuthorization; a test compares the two byte for byte):
//
//   METHOD \n URI \n canonical query \n canonical headers \n signed headers \n hex(sha256(body))
//
// - canonical query: parameters sorted by name (byte order), "name=value" joined with '&', the
//   value percent-encoded (only A-Z a-z 0-9 - _ . ~ kept), the name as is;
// - canonical headers: every header named host, content-type or x-acs-*, lowercased, sorted,
//   "name:trimmed value\n"; signed headers: those names joined with ';';
// - string to sign: "ACS3-HMAC-SHA256\n" + hex(sha256(canonical request));
// - Authorization: "ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<...>,Signature=<hex
//   HMAC-SHA256(secret, string to sign)>".
// STS credentials add x-acs-accesskey-id and x-acs-security-token (both signed).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/utc_time.h"
#include "net/http_request.h"

namespace pp::providers::alibabacloud {

inline constexpr char kAcs3Algorithm[] = "ACS3-HMAC-SHA256";

// An AccessKey pair, with the STS token and its expiry when the pair is temporary.
struct AcsCredentials {
  std::string accessKeyId;
  std::string accessKeySecret;
  std::string securityToken;  // empty for a long-term AccessKey
  std::optional<std::chrono::system_clock::time_point> expiry;
};

struct Acs3Request {
  std::string method = "POST";
  std::string path = "/";
  std::map<std::string, std::string> query;  // RPC parameters, flattened (Tag.1.Key, ...)
  net::HeaderList headers;                   // must include host, x-acs-action, x-acs-version
  std::string body;
};

std::string sha256Hex(std::string_view data);
std::string hmacSha256Hex(std::string_view key, std::string_view data);
// Percent-encoding of a query value as the SDKs do it (RFC 3986 unreserved characters kept).
std::string acsEncode(std::string_view text);
// The x-acs-date, STS Timestamp and Expiration form, "2026-12-02T07:05:09Z" (utc::format's
// default): seconds, "Z", no fraction.
inline constexpr utc::Rfc3339Form kAcsTimeForm{.fraction = false, .offset = false};

std::string acs3CanonicalQuery(const std::map<std::string, std::string>& query);
// The canonical request and the signed header names (';'-joined) of `r` as it stands.
std::string acs3CanonicalRequest(const Acs3Request& r, std::string* signedHeaders = nullptr);
// The Authorization value for `r` as it stands (its headers already final).
std::string acs3Authorization(const Acs3Request& r, const AcsCredentials& creds);

// Adds x-acs-date, x-acs-signature-nonce, x-acs-content-sha256, the STS headers when the
// credentials carry a token, then Authorization.
void acs3Sign(Acs3Request& r, const AcsCredentials& creds,
              std::chrono::system_clock::time_point now, const std::string& nonce);

// 32 random bytes as hex: a fresh x-acs-signature-nonce (the service rejects a reused one).
std::string newNonce();

}  // namespace pp::providers::alibabacloud
