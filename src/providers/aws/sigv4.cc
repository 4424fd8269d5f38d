// AWS Signature Version 4 signing (see sigv4.h).
#include "providers/aws/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <stdexcept>

#include "base/encoding.h"
#include "base/strings.h"
#include "base/utc_time.h"

namespace pp::providers::aws {
namespace {

// Trims and collapses runs of spaces, as the canonical header form requires.
std::string normalizeHeaderValue(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoding without '+' handling (SigV4 treats '+' literally).
std::string decodePercent(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hexValue(s[i + 1]) >= 0 && hexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(hexValue(s[i + 1]) * 16 + hexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::string uriEncode(std::string_view text, bool encodeSlash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (c == '/' && !encodeSlash)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string amzDate(std::chrono::system_clock::time_point t) {
  return utc::format(t, "%Y%m%dT%H%M%SZ");
}

std::string sha256Hex(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  return encoding::hexEncode(std::string_view(reinterpret_cast<const char*>(md), sizeof md));
}

std::string hmacSha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len) == nullptr) {
    throw std::runtime_error("HMAC-SHA256 failed");  // only on OpenSSL misconfiguration
  }
  return std::string(reinterpret_cast<const char*>(md), len);
}

std::string canonicalQueryString(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  size_t pos = 0;
  while (!query.empty()) {
    size_t amp = query.find('&', pos);
    std::string_view item =
        query.substr(pos, amp == std::string_view::npos ? std::string_view::npos : amp - pos);
    if (!item.empty()) {
      size_t eq = item.find('=');
      std::string name = decodePercent(item.substr(0, eq));
      std::string value = eq == std::string_view::npos ? "" : decodePercent(item.substr(eq + 1));
      params.emplace_back(uriEncode(name), uriEncode(value));
    }
    if (amp == std::string_view::npos) break;
    pos = amp + 1;
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += '&';
    out += k + "=" + v;
  }
  return out;
}

std::string canonicalRequest(const SigningRequest& req, std::string* signedHeaders) {
  std::map<std::string, std::string> headers;
  for (const auto& [name, value] : req.headers) {
    std::string key = strings::toLower(name);
    std::string v = normalizeHeaderValue(value);
    auto [it, inserted] = headers.emplace(key, v);
    if (!inserted) it->second += "," + v;
  }
  std::string canonHeaders, signedList;
  for (const auto& [k, v] : headers) {
    canonHeaders += k + ":" + v + "\n";
    if (!signedList.empty()) signedList += ';';
    signedList += k;
  }
  if (signedHeaders) *signedHeaders = signedList;
  std::string path = req.path.empty() ? "/" : uriEncode(req.path, false);
  return req.method + "\n" + path + "\n" + canonicalQueryString(req.query) + "\n" + canonHeaders +
         "\n" + signedList + "\n" + sha256Hex(req.body);
}

static std::string scopeString(const SigningScope& scope) {
  return amzDate(scope.time).substr(0, 8) + "/" + scope.region + "/" + scope.service +
         "/aws4_request";
}

std::string stringToSign(const SigningScope& scope, const std::string& canonical) {
  return "AWS4-HMAC-SHA256\n" + amzDate(scope.time) + "\n" + scopeString(scope) + "\n" +
         sha256Hex(canonical);
}

std::string signingKey(std::string_view secret, const SigningScope& scope) {
  std::string k = hmacSha256("AWS4" + std::string(secret), amzDate(scope.time).substr(0, 8));
  k = hmacSha256(k, scope.region);
  k = hmacSha256(k, scope.service);
  return hmacSha256(k, "aws4_request");
}

void sign(SigningRequest& req, const Credentials& creds, const SigningScope& scope) {
  req.headers.emplace_back("X-Amz-Date", amzDate(scope.time));
  if (!creds.sessionToken.empty())
    req.headers.emplace_back("X-Amz-Security-Token", creds.sessionToken);
  std::string signedHeaders;
  std::string canonical = canonicalRequest(req, &signedHeaders);
  std::string key = signingKey(creds.secretAccessKey, scope);
  std::string signature = encoding::hexEncode(hmacSha256(key, stringToSign(scope, canonical)));
  OPENSSL_cleanse(key.data(), key.size());
  req.headers.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=" + creds.accessKeyId +
                                                "/" + scopeString(scope) + ", SignedHeaders=" +
                                                signedHeaders + ", Signature=" + signature);
}

}  // namespace pp::providers::aws
