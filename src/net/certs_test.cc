#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include "net/openssl_util.h"
#include "net/tls.h"

namespace pp::net {
namespace {

using StorePtr = std::unique_ptr<X509_STORE, ossl::Deleter<X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, ossl::Deleter<X509_STORE_CTX_free>>;

// Verifies `leafPem` against the trust anchors in `caPem` for the given purpose
// (X509_PURPOSE_SSL_SERVER / _CLIENT); returns the X509_V_* result.
int verify(const std::string& leafPem, const std::string& caPem, int purpose) {
  StorePtr store(X509_STORE_new());
  for (auto& ca : ossl::parseCertificates(caPem)) X509_STORE_add_cert(store.get(), ca.get());
  ossl::CertPtr leaf = ossl::parseCertificate(leafPem);
  EXPECT_TRUE(leaf);
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), nullptr);
  X509_STORE_CTX_set_purpose(ctx.get(), purpose);
  int ok = X509_verify_cert(ctx.get());
  int error = X509_STORE_CTX_get_error(ctx.get());
  ossl::takeErrors();
  return ok == 1 ? X509_V_OK : (error == X509_V_OK ? -1 : error);
}

std::string nameEntry(X509* cert, int nid) {
  X509_NAME* name = X509_get_subject_name(cert);
  int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0) return "<none>";
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     static_cast<size_t>(ASN1_STRING_length(data)));
}

std::vector<std::string> dnsNames(X509* cert) {
  std::vector<std::string> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    int type = 0;
    auto* value = static_cast<ASN1_STRING*>(GENERAL_NAME_get0_value(n, &type));
    std::string prefix = type == GEN_DNS ? "DNS:" : type == GEN_IPADD ? "IP:" : "OTHER:";
    out.push_back(prefix + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                                       static_cast<size_t>(ASN1_STRING_length(value))));
  }
  GENERAL_NAMES_free(names);
  return out;
}

// Seconds from now to `t` (negative in the past).
long secondsFromNow(const ASN1_TIME* t) {
  int days = 0, seconds = 0;
  EXPECT_EQ(ASN1_TIME_diff(&days, &seconds, nullptr, t), 1);
  return days * 86400L + seconds;
}

void expectP256(const std::string& certPem, const std::string& keyPem) {
  ossl::CertPtr cert = ossl::parseCertificate(certPem);
  ASSERT_TRUE(cert);
  EVP_PKEY* pub = X509_get0_pubkey(cert.get());
  ASSERT_TRUE(pub);
  EXPECT_TRUE(EVP_PKEY_is_a(pub, "EC"));
  char group[64] = {};
  size_t len = 0;
  ASSERT_EQ(
      EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len),
      1);
  EXPECT_STREQ(group, "prime256v1");
  EXPECT_EQ(X509_get_signature_nid(cert.get()), NID_ecdsa_with_SHA256);
  EXPECT_TRUE(keyPem.starts_with("-----BEGIN PRIVATE KEY-----")) << "PKCS#8, unencrypted";
  EXPECT_TRUE(checkCertifiedKey({certPem, keyPem}));
}

void expectUpstreamValidity(X509* cert) {
  long before = secondsFromNow(X509_get0_notBefore(cert));
  long after = secondsFromNow(X509_get0_notAfter(cert));
  EXPECT_NEAR(before, -300, 30);
  // Two calendar years: 730 or 731 days.
  EXPECT_GE(after, 730L * 86400 - 30);
  EXPECT_LE(after, 731L * 86400 + 30);
}

TEST(Certs, CaIssuesServerAndClientCertificatesThatVerify) {
  auto ca = CertificateAuthority::create(kCaOrganization, "peerpods CA");
  ASSERT_TRUE(ca) << ca.error().toString();
  auto server = ca->issueServer("podvm-nginx-1234abcd");
  ASSERT_TRUE(server) << server.error().toString();
  auto client = ca->issueClient(kClientOrganization, "cloud-api-adaptor");
  ASSERT_TRUE(client) << client.error().toString();

  EXPECT_EQ(verify(server->certPem, ca->certPem(), X509_PURPOSE_SSL_SERVER), X509_V_OK);
  EXPECT_EQ(verify(client->certPem, ca->certPem(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  // The extended key usages keep each certificate to its role.
  EXPECT_EQ(verify(server->certPem, ca->certPem(), X509_PURPOSE_SSL_CLIENT),
            X509_V_ERR_INVALID_PURPOSE);
  EXPECT_EQ(verify(client->certPem, ca->certPem(), X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_INVALID_PURPOSE);
  // Another CA's certificates do not verify.
  auto other = CertificateAuthority::create(kCaOrganization, "other CA");
  ASSERT_TRUE(other);
  EXPECT_EQ(verify(server->certPem, other->certPem(), X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST(Certs, ValidityStartsAtTheGivenTime) {
  using std::chrono::hours;
  const auto later = CertClock::now() + hours(24 * 800);
  auto ca = CertificateAuthority::create(kCaOrganization, "peerpods CA", later);
  ASSERT_TRUE(ca) << ca.error().toString();
  auto server = ca->issueServer("podvm-a", later);
  auto client = selfSignedClient(kClientOrganization, later);
  ASSERT_TRUE(server && client);
  for (const std::string& pem : {ca->certPem(), server->certPem, client->certPem}) {
    auto end = certificateNotAfter(pem);
    ASSERT_TRUE(end) << end.error().toString();
    // Two calendar years (730 or 731 days) from `later`.
    EXPECT_GT(*end - later, hours(24 * 729));
    EXPECT_LT(*end - later, hours(24 * 732));
  }
  EXPECT_FALSE(certificateNotAfter("not a certificate"));
}

TEST(Certs, FieldsAreAsUpstream) {
  auto ca = CertificateAuthority::create(kCaOrganization, "peerpods CA");
  ASSERT_TRUE(ca);
  auto server = ca->issueServer("podvm-nginx-1234abcd");
  ASSERT_TRUE(server);
  auto client = selfSignedClient(kClientOrganization);
  ASSERT_TRUE(client);

  ossl::CertPtr caCert = ossl::parseCertificate(ca->certPem());
  ossl::CertPtr serverCert = ossl::parseCertificate(server->certPem);
  ossl::CertPtr clientCert = ossl::parseCertificate(client->certPem);
  ASSERT_TRUE(caCert && serverCert && clientCert);

  EXPECT_EQ(nameEntry(caCert.get(), NID_organizationName), "agent-protocol-forwarder");
  EXPECT_EQ(nameEntry(caCert.get(), NID_commonName), "peerpods CA");
  EXPECT_EQ(X509_check_ca(caCert.get()), 1);
  EXPECT_TRUE(X509_get_key_usage(caCert.get()) & KU_KEY_CERT_SIGN);

  EXPECT_EQ(nameEntry(serverCert.get(), NID_commonName), "podvm-nginx-1234abcd");
  EXPECT_EQ(nameEntry(serverCert.get(), NID_organizationName), "agent-protocol-forwarder");
  EXPECT_EQ(dnsNames(serverCert.get()), std::vector<std::string>{"DNS:podvm-nginx-1234abcd"});
  EXPECT_EQ(X509_get_extended_key_usage(serverCert.get()), static_cast<uint32_t>(XKU_SSL_SERVER));
  EXPECT_EQ(X509_check_ca(serverCert.get()), 0);
  EXPECT_EQ(X509_check_issued(caCert.get(), serverCert.get()), X509_V_OK);
  EXPECT_NE(X509_get0_subject_key_id(serverCert.get()), nullptr);
  // The leaf's SubjectPublicKeyInfo (set without OpenSSL's encoder) is byte for byte what
  // OpenSSL writes for the key.
  ossl::KeyPtr serverKey = ossl::parsePrivateKey(server->keyPem);
  ASSERT_TRUE(serverKey);
  auto der = [](auto encode, auto* object) {
    unsigned char* out = nullptr;
    int n = encode(object, &out);
    std::string bytes(out ? reinterpret_cast<char*>(out) : "", n > 0 ? n : 0);
    OPENSSL_free(out);
    return bytes;
  };
  const std::string fromKey = der(i2d_PUBKEY, serverKey.get());
  EXPECT_FALSE(fromKey.empty());
  EXPECT_EQ(der(i2d_X509_PUBKEY, X509_get_X509_PUBKEY(serverCert.get())), fromKey);

  EXPECT_EQ(nameEntry(clientCert.get(), NID_organizationName), "cloud-api-adaptor");
  EXPECT_EQ(X509_get_extended_key_usage(clientCert.get()), static_cast<uint32_t>(XKU_SSL_CLIENT));
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(clientCert.get()),
                          X509_get_issuer_name(clientCert.get())),
            0);
  EXPECT_EQ(X509_verify(clientCert.get(), X509_get0_pubkey(clientCert.get())), 1) << "self-signed";

  for (X509* cert : {caCert.get(), serverCert.get(), clientCert.get()})
    expectUpstreamValidity(cert);
  expectP256(ca->certPem(), ca->keyPem());
  expectP256(server->certPem, server->keyPem);
  expectP256(client->certPem, client->keyPem);

  // Serials are random and positive.
  const ASN1_INTEGER* a = X509_get0_serialNumber(caCert.get());
  const ASN1_INTEGER* b = X509_get0_serialNumber(serverCert.get());
  EXPECT_NE(ASN1_INTEGER_cmp(a, b), 0);
  auto bn = std::unique_ptr<BIGNUM, ossl::Deleter<BN_free>>(ASN1_INTEGER_to_BN(b, nullptr));
  EXPECT_FALSE(BN_is_negative(bn.get()));
  EXPECT_GT(BN_num_bits(bn.get()), 64);
}

TEST(Certs, IpAddressNamesBecomeIpSans) {
  auto ca = CertificateAuthority::create(kCaOrganization, "ca");
  ASSERT_TRUE(ca);
  auto server = ca->issueServer("192.0.2.7");
  ASSERT_TRUE(server) << server.error().toString();
  ossl::CertPtr cert = ossl::parseCertificate(server->certPem);
  EXPECT_EQ(dnsNames(cert.get()), std::vector<std::string>{std::string("IP:\xc0\x00\x02\x07", 7)});
}

TEST(Certs, NamesCannotInjectFurtherSans) {
  auto ca = CertificateAuthority::create(kCaOrganization, "ca");
  ASSERT_TRUE(ca);
  auto server = ca->issueServer("evil,DNS:victim.example");
  ASSERT_TRUE(server) << server.error().toString();
  ossl::CertPtr cert = ossl::parseCertificate(server->certPem);
  EXPECT_EQ(dnsNames(cert.get()), std::vector<std::string>{"DNS:evil,DNS:victim.example"});
  EXPECT_EQ(X509_check_host(cert.get(), "victim.example", 0, 0, nullptr), 0);
}

TEST(Certs, BadNamesAreRefused) {
  auto ca = CertificateAuthority::create(kCaOrganization, "ca");
  ASSERT_TRUE(ca);
  EXPECT_FALSE(ca->issueServer(""));
  auto tooLong = ca->issueServer(std::string(65, 'a'));  // X.509 limits a CN to 64 characters
  ASSERT_FALSE(tooLong);
  EXPECT_EQ(tooLong.error().code, Code::kInvalidArgument);
}

TEST(Certs, LoadedCaIssuesLikeTheOriginal) {
  auto ca = CertificateAuthority::create("my org", "my CA");
  ASSERT_TRUE(ca);
  auto loaded = CertificateAuthority::load(ca->certPem(), ca->keyPem());
  ASSERT_TRUE(loaded) << loaded.error().toString();
  EXPECT_EQ(loaded->certPem(), ca->certPem());
  auto server = loaded->issueServer("podvm-x");
  ASSERT_TRUE(server);
  EXPECT_EQ(verify(server->certPem, ca->certPem(), X509_PURPOSE_SSL_SERVER), X509_V_OK);
  EXPECT_EQ(nameEntry(ossl::parseCertificate(server->certPem).get(), NID_organizationName),
            "my org");
}

TEST(Certs, LoadRefusesBadMaterial) {
  auto ca = CertificateAuthority::create(kCaOrganization, "ca");
  auto other = CertificateAuthority::create(kCaOrganization, "other");
  ASSERT_TRUE(ca && other);
  auto leaf = ca->issueServer("podvm-x");
  ASSERT_TRUE(leaf);

  auto notPem = CertificateAuthority::load("hello", ca->keyPem());
  ASSERT_FALSE(notPem);
  EXPECT_NE(notPem.error().message.find("not a PEM certificate"), std::string::npos);
  auto badKey = CertificateAuthority::load(
      ca->certPem(), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  ASSERT_FALSE(badKey);
  EXPECT_NE(badKey.error().message.find("key"), std::string::npos);
  auto mismatch = CertificateAuthority::load(ca->certPem(), other->keyPem());
  ASSERT_FALSE(mismatch);
  EXPECT_NE(mismatch.error().message.find("does not match"), std::string::npos);
  auto notCa = CertificateAuthority::load(leaf->certPem, leaf->keyPem);
  ASSERT_FALSE(notCa);
  EXPECT_NE(notCa.error().message.find("not a CA"), std::string::npos);
  // Nothing in the messages reveals key material.
  for (const auto& e : {badKey.error(), mismatch.error()}) {
    EXPECT_EQ(e.message.find("BEGIN"), std::string::npos);
  }
}

TEST(Certs, IssuingIsThreadSafe) {
  auto ca = CertificateAuthority::create(kCaOrganization, "ca");
  ASSERT_TRUE(ca);
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        auto s = ca->issueServer("podvm-" + std::to_string(t) + "-" + std::to_string(i));
        if (s && verify(s->certPem, ca->certPem(), X509_PURPOSE_SSL_SERVER) == X509_V_OK) ++good;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 40);
}

class CertFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / "pp-certs-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_.data()), nullptr);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& content) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << content;
    return path;
  }
  std::string dir_;
};

TEST_F(CertFiles, ReadsMatchingPairsAndBundles) {
  auto ca = CertificateAuthority::create(kCaOrganization, "ca");
  ASSERT_TRUE(ca);
  auto server = ca->issueServer("podvm-x");
  ASSERT_TRUE(server);
  auto pair =
      readCertifiedKeyFiles(write("tls.crt", server->certPem), write("tls.key", server->keyPem));
  ASSERT_TRUE(pair) << pair.error().toString();
  EXPECT_EQ(pair->certPem, server->certPem);
  EXPECT_EQ(pair->keyPem, server->keyPem);
  auto bundle =
      readCertificateFile(write("ca.crt", ca->certPem() + server->certPem), "-ca-cert-file");
  ASSERT_TRUE(bundle) << bundle.error().toString();
  EXPECT_EQ(ossl::parseCertificates(*bundle).size(), 2u);
}

TEST_F(CertFiles, ClearErrors) {
  auto ca = CertificateAuthority::create(kCaOrganization, "ca");
  ASSERT_TRUE(ca);
  auto a = ca->issueServer("a");
  auto b = ca->issueServer("b");
  ASSERT_TRUE(a && b);

  auto missing = readCertificateFile(dir_ + "/nope.crt", "-ca-cert-file");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Code::kNotFound);
  EXPECT_NE(missing.error().message.find("-ca-cert-file"), std::string::npos);
  EXPECT_NE(missing.error().message.find("nope.crt"), std::string::npos);

  auto notPem = readCertificateFile(write("junk.crt", "not a certificate"), "-ca-cert-file");
  ASSERT_FALSE(notPem);
  EXPECT_EQ(notPem.error().code, Code::kInvalidArgument);
  EXPECT_NE(notPem.error().message.find("no PEM certificate"), std::string::npos);

  auto keyMissing = readCertifiedKeyFiles(write("a.crt", a->certPem), dir_ + "/a.key");
  ASSERT_FALSE(keyMissing);
  EXPECT_EQ(keyMissing.error().code, Code::kNotFound);

  auto keyNotPem = readCertifiedKeyFiles(write("a.crt", a->certPem), write("junk.key", a->certPem));
  ASSERT_FALSE(keyNotPem);
  EXPECT_NE(keyNotPem.error().message.find("not an unencrypted PEM key"), std::string::npos);

  auto mismatch = readCertifiedKeyFiles(write("a.crt", a->certPem), write("b.key", b->keyPem));
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code, Code::kInvalidArgument);
  EXPECT_NE(mismatch.error().message.find("does not match"), std::string::npos);
  EXPECT_NE(mismatch.error().message.find("b.key"), std::string::npos);
}

}  // namespace
}  // namespace pp::net
