#include <openssl/ssl.h>

#include <array>
#include <string_view>

#include "base/strings.h"
#include "net/tls.h"

namespace pp::net {
namespace {

struct SuiteName {
  std::string_view go;       // the name Go's crypto/tls (and Kubernetes' flag helper) accepts
  std::string_view openssl;  // "" for TLS 1.3 suites, which neither side lets you choose
};

// Every suite Go implements (tls.CipherSuites() and tls.InsecureCipherSuites()), plus the two
// legacy CHACHA20 names that k8s.io/component-base keeps: exactly what upstream accepts.
constexpr std::array kSuites{
    SuiteName{"TLS_AES_128_GCM_SHA256", ""},
    SuiteName{"TLS_AES_256_GCM_SHA384", ""},
    SuiteName{"TLS_CHACHA20_POLY1305_SHA256", ""},
    SuiteName{"TLS_RSA_WITH_RC4_128_SHA", "RC4-SHA"},
    SuiteName{"TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA"},
    SuiteName{"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"},
    SuiteName{"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"},
    SuiteName{"TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"},
    SuiteName{"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"},
    SuiteName{"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
    SuiteName{"TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "ECDHE-ECDSA-RC4-SHA"},
    SuiteName{"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
    SuiteName{"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
    SuiteName{"TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-RC4-SHA"},
    SuiteName{"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-RSA-DES-CBC3-SHA"},
    SuiteName{"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
    SuiteName{"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
    SuiteName{"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"},
    SuiteName{"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"},
    SuiteName{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
    SuiteName{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
    SuiteName{"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
    SuiteName{"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
    SuiteName{"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
    SuiteName{"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"},
    SuiteName{"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"},
    SuiteName{"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
};

}  // namespace

Result<TlsProfile> parseTlsProfile(std::string_view minVersion,
                                   const std::vector<std::string>& cipherSuites) {
  TlsProfile profile;
  minVersion = strings::trim(minVersion);
  if (minVersion == "VersionTLS10" || minVersion == "VersionTLS11") {
    return fail(Code::kInvalidArgument,
                "TLS minimum version \"" + std::string(minVersion) +
                    "\": TLS 1.0 and 1.1 are not supported, use VersionTLS12 or VersionTLS13");
  }
  if (minVersion == "VersionTLS13") {
    profile.minVersion = TLS1_3_VERSION;
  } else if (!minVersion.empty() && minVersion != "VersionTLS12") {
    return fail(Code::kInvalidArgument, "unknown TLS minimum version \"" + std::string(minVersion) +
                                            "\": use VersionTLS12 or VersionTLS13");
  }
  bool anySuite = false;
  for (const auto& raw : cipherSuites) {
    auto name = strings::trim(raw);
    if (name.empty()) continue;
    anySuite = true;
    const SuiteName* found = nullptr;
    for (const auto& s : kSuites) {
      if (s.go == name) found = &s;
    }
    if (!found) {
      std::string valid;
      for (const auto& s : kSuites) valid += (valid.empty() ? "" : ", ") + std::string(s.go);
      return fail(Code::kInvalidArgument,
                  "unknown TLS cipher suite \"" + std::string(name) + "\"; valid names: " + valid);
    }
    if (found->openssl.empty()) continue;  // TLS 1.3: fixed by the protocol, as in Go
    if (!profile.cipherList.empty()) profile.cipherList += ':';
    profile.cipherList += found->openssl;
  }
  // Go cannot configure TLS 1.3 suites, so upstream refuses the combination as meaningless.
  if (profile.minVersion == TLS1_3_VERSION && anySuite) {
    return fail(Code::kInvalidArgument,
                "TLS cipher suites may not be given with minimum version VersionTLS13: TLS 1.3 "
                "suites are fixed");
  }
  return profile;
}

Status applyTlsProfile(SSL_CTX* ctx, const TlsProfile& profile) {
  if (SSL_CTX_set_min_proto_version(ctx, profile.minVersion) != 1) {
    return fail(Code::kInternal, "setting the minimum TLS version failed");
  }
  if (!profile.cipherList.empty() &&
      SSL_CTX_set_cipher_list(ctx, profile.cipherList.c_str()) != 1) {
    return fail(Code::kInvalidArgument, "none of the TLS cipher suites (" + profile.cipherList +
                                            ") is available in this OpenSSL build");
  }
  return {};
}

}  // namespace pp::net
