// Upstream's TLS profile checks (pkg/util/tlsconfig.ParseTLSOptions) and their OpenSSL form.
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <memory>

#include "net/tls.h"

namespace pp::net {
namespace {

std::string errorOf(std::string_view version, std::vector<std::string> suites = {}) {
  auto p = parseTlsProfile(version, suites);
  return p ? "" : p.error().message;
}

TEST(TlsProfile, VersionsAsUpstreamSpellsThem) {
  EXPECT_EQ(parseTlsProfile("", {})->minVersion, TLS1_2_VERSION);
  EXPECT_EQ(parseTlsProfile("VersionTLS12", {})->minVersion, TLS1_2_VERSION);
  EXPECT_EQ(parseTlsProfile(" VersionTLS13 ", {})->minVersion, TLS1_3_VERSION);
  EXPECT_NE(errorOf("VersionTLS10").find("TLS 1.0 and 1.1 are not supported"), std::string::npos);
  EXPECT_NE(errorOf("VersionTLS11").find("TLS 1.0 and 1.1 are not supported"), std::string::npos);
  for (const char* bad : {"1.2", "TLS1.3", "tls13", "versiontls12"}) {
    EXPECT_NE(errorOf(bad).find("unknown TLS minimum version"), std::string::npos) << bad;
  }
}

TEST(TlsProfile, CipherSuitesByGoNames) {
  auto p = parseTlsProfile("VersionTLS12", {" TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "",
                                            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"});
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->cipherList, "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305");
  // Go's legacy alias, and TLS 1.3 names that are accepted but cannot be chosen.
  p = parseTlsProfile("", {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "TLS_AES_128_GCM_SHA256"});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->cipherList, "ECDHE-RSA-CHACHA20-POLY1305");
  auto err = errorOf("", {"ECDHE-RSA-AES256-GCM-SHA384"});  // OpenSSL's name is not upstream's
  EXPECT_NE(err.find("unknown TLS cipher suite \"ECDHE-RSA-AES256-GCM-SHA384\""),
            std::string::npos);
  EXPECT_NE(err.find("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"), std::string::npos);  // the list
  EXPECT_NE(errorOf("VersionTLS13", {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"})
                .find("may not be given with minimum version VersionTLS13"),
            std::string::npos);
  EXPECT_EQ(errorOf("VersionTLS13", {" ", ""}), "");  // nothing after trimming
}

TEST(TlsProfile, AppliedToAnOpensslContext) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_method()), SSL_CTX_free);
  auto p = parseTlsProfile("VersionTLS12", {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"});
  ASSERT_TRUE(p);
  ASSERT_TRUE(applyTlsProfile(ctx.get(), *p));
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx.get()), TLS1_2_VERSION);
  std::vector<std::string> tls12;
  STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(ctx.get());
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    const SSL_CIPHER* c = sk_SSL_CIPHER_value(ciphers, i);
    if (std::string(SSL_CIPHER_get_version(c)) != "TLSv1.3")
      tls12.push_back(SSL_CIPHER_get_name(c));
  }
  EXPECT_EQ(tls12, std::vector<std::string>{"ECDHE-ECDSA-AES128-GCM-SHA256"});

  ASSERT_TRUE(applyTlsProfile(ctx.get(), *parseTlsProfile("VersionTLS13", {})));
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx.get()), TLS1_3_VERSION);
  // Go still accepts RC4; OpenSSL 3 does not build it in: a clear error, not a silent default.
  auto rc4 = parseTlsProfile("", {"TLS_RSA_WITH_RC4_128_SHA"});
  ASSERT_TRUE(rc4);
  auto st = applyTlsProfile(ctx.get(), *rc4);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("RC4-SHA"), std::string::npos);
}

}  // namespace
}  // namespace pp::net
