// ACS3-HMAC-SHA256 (see acs3.h).
#include "providers/alibabacloud/acs3.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "base/encoding.h"
#include "base/strings.h"

namespace pp::providers::alibabacloud {

std::string sha256Hex(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  return encoding::hexEncode(std::string_view(reinterpret_cast<char*>(md), sizeof md));
}

std::string hmacSha256Hex(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len))
    throw std::runtime_error("HMAC-SHA256 failed");  // only on OpenSSL misconfiguration
  return encoding::hexEncode(std::string_view(reinterpret_cast<char*>(md), len));
}

std::string acsEncode(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string acs3CanonicalQuery(const std::map<std::string, std::string>& query) {
  std::string out;
  for (const auto& [k, v] : query) {
    if (!out.empty()) out.push_back('&');
    out += k + "=" + acsEncode(v);
  }
  return out;
}

std::string acs3CanonicalRequest(const Acs3Request& r, std::string* signedHeaders) {
  std::map<std::string, std::vector<std::string>> hs;
  for (const auto& [name, value] : r.headers) {
    std::string lower = strings::toLower(name);
    if (lower == "host" || lower == "content-type" || lower.rfind("x-acs-", 0) == 0)
      hs[lower].push_back(std::string(strings::trim(value)));
  }
  std::string canonicalHeaders, names;
  for (auto& [name, values] : hs) {
    std::sort(values.begin(), values.end());
    std::string joined;
    for (const auto& v : values) joined += (joined.empty() ? "" : ",") + v;
    canonicalHeaders += name + ":" + joined + "\n";
    names += (names.empty() ? "" : ";") + name;
  }
  if (signedHeaders) *signedHeaders = names;
  std::string payload;
  for (const auto& [name, value] : r.headers)
    if (strings::toLower(name) == "x-acs-content-sha256") payload = value;
  if (payload.empty()) payload = sha256Hex(r.body);
  return r.method + "\n" + r.path + "\n" + acs3CanonicalQuery(r.query) + "\n" + canonicalHeaders +
         "\n" + names + "\n" + payload;
}

std::string acs3Authorization(const Acs3Request& r, const AcsCredentials& creds) {
  std::string names;
  std::string canonical = acs3CanonicalRequest(r, &names);
  std::string toSign = std::string(kAcs3Algorithm) + "\n" + sha256Hex(canonical);
  return std::string(kAcs3Algorithm) + " Credential=" + creds.accessKeyId +
         ",SignedHeaders=" + names + ",Signature=" + hmacSha256Hex(creds.accessKeySecret, toSign);
}

void acs3Sign(Acs3Request& r, const AcsCredentials& creds,
              std::chrono::system_clock::time_point now, const std::string& nonce) {
  r.headers.emplace_back("x-acs-date", utc::format(now));
  r.headers.emplace_back("x-acs-signature-nonce", nonce);
  r.headers.emplace_back("x-acs-content-sha256", sha256Hex(r.body));
  if (!creds.securityToken.empty()) {
    r.headers.emplace_back("x-acs-accesskey-id", creds.accessKeyId);
    r.headers.emplace_back("x-acs-security-token", creds.securityToken);
  }
  r.headers.emplace_back("Authorization", acs3Authorization(r, creds));
}

std::string newNonce() {
  unsigned char b[32];
  if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("RAND_bytes failed");
  return encoding::hexEncode(std::string_view(reinterpret_cast<char*>(b), sizeof b));
}

}  // namespace pp::providers::alibabacloud
