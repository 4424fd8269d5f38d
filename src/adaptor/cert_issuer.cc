#include "adaptor/cert_issuer.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <mutex>

#include "base/files.h"

namespace pp::adaptor {
namespace {

using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using CertPtr = std::unique_ptr<X509, decltype(&X509_free)>;

KeyPtr newKey() { return KeyPtr(EVP_EC_gen("P-256"), EVP_PKEY_free); }

std::string pemOfKey(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

std::string pemOfCert(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

KeyPtr keyOfPem(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return KeyPtr(k, EVP_PKEY_free);
}

CertPtr certOfPem(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* c = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return CertPtr(c, X509_free);
}

void addExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext) {
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
}

// Builds a certificate for `key`, signed by issuerKey (self-signed when issuer is null).
CertPtr makeCert(EVP_PKEY* key, const std::string& org, const std::string& cn, X509* issuer,
                 EVP_PKEY* issuerKey, bool isCa, const char* eku, const std::string& dnsName) {
  CertPtr cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -5 * 60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 2L * 365 * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1, 0);
  if (!cn.empty()) {
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  }
  X509* signer = issuer ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  if (isCa) {
    addExt(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    addExt(cert.get(), signer, NID_key_usage, "critical,keyCertSign,digitalSignature,cRLSign");
  } else {
    addExt(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    addExt(cert.get(), signer, NID_key_usage, "critical,digitalSignature,keyEncipherment");
  }
  if (eku) addExt(cert.get(), signer, NID_ext_key_usage, eku);
  if (!dnsName.empty()) addExt(cert.get(), signer, NID_subject_alt_name, ("DNS:" + dnsName).c_str());
  X509_sign(cert.get(), issuerKey ? issuerKey : key, EVP_sha256());
  return cert;
}

}  // namespace

struct OpensslCertIssuer::Impl {
  std::mutex mu;
  KeyPtr caKey{nullptr, EVP_PKEY_free};
  CertPtr caCert{nullptr, X509_free};
  std::string caCertPem;
  ClientBundle client;
  std::string clientCa;  // what the forwarder verifies our client certificate with
};

OpensslCertIssuer::~OpensslCertIssuer() = default;

Result<std::unique_ptr<OpensslCertIssuer>> OpensslCertIssuer::loadOrCreate(const std::string& dir) {
  std::unique_ptr<OpensslCertIssuer> self(new OpensslCertIssuer());
  self->impl_ = std::make_unique<Impl>();
  Impl& m = *self->impl_;
  auto caPem = files::readFile(dir + "/ca.crt", 1 << 20);
  auto caKeyPem = files::readFile(dir + "/ca.key", 1 << 20);
  auto clPem = files::readFile(dir + "/client.crt", 1 << 20);
  auto clKeyPem = files::readFile(dir + "/client.key", 1 << 20);
  if (caPem && caKeyPem && clPem && clKeyPem) {
    m.caCert = certOfPem(*caPem);
    m.caKey = keyOfPem(*caKeyPem);
    if (!m.caCert || !m.caKey || X509_check_private_key(m.caCert.get(), m.caKey.get()) != 1) {
      return fail(Code::kFailedPrecondition, "TLS material in " + dir + " is unreadable or inconsistent; remove it to regenerate");
    }
    m.caCertPem = *caPem;
    m.client = {m.caCertPem, *clPem, *clKeyPem};
    m.clientCa = *clPem;
    return self;
  }
  m.caKey = newKey();
  if (!m.caKey) return fail(Code::kInternal, "cannot generate a P-256 key");
  m.caCert = makeCert(m.caKey.get(), "agent-protocol-forwarder", "peerpods CA", nullptr, nullptr, true, nullptr, "");
  m.caCertPem = pemOfCert(m.caCert.get());
  // The client certificate is self-signed (as upstream); the forwarder trusts exactly it.
  auto clientKey = newKey();
  auto clientCert = makeCert(clientKey.get(), "cloud-api-adaptor", "cloud-api-adaptor", nullptr, nullptr, false,
                             "clientAuth", "");
  m.client = {m.caCertPem, pemOfCert(clientCert.get()), pemOfKey(clientKey.get())};
  m.clientCa = m.client.clientCertPem;
  if (auto st = files::makeDirs(dir, 0700); !st) return fail(st.error());
  for (auto& [name, content, mode] : std::vector<std::tuple<std::string, std::string, mode_t>>{
           {"ca.crt", m.caCertPem, 0644}, {"ca.key", pemOfKey(m.caKey.get()), 0600},
           {"client.crt", m.client.clientCertPem, 0644}, {"client.key", m.client.clientKeyPem, 0600}}) {
    if (auto st = files::writeAtomic(dir + "/" + name, content, mode); !st) return fail(st.error());
  }
  return self;
}

Status OpensslCertIssuer::useFiles(const std::string& caFile, const std::string& certFile,
                                   const std::string& keyFile) {
  std::lock_guard lock(impl_->mu);
  if (!caFile.empty()) {
    auto ca = files::readFile(caFile, 1 << 20);
    if (!ca) return fail(ca.error().wrap("-ca-cert-file"));
    if (!certOfPem(*ca)) return fail(Code::kInvalidArgument, "-ca-cert-file " + caFile + " is not a PEM certificate");
    impl_->client.caCertPem = *ca;
  }
  if (certFile.empty() != keyFile.empty()) {
    return fail(Code::kInvalidArgument, "-cert-file and -cert-key must be given together");
  }
  if (!certFile.empty()) {
    auto cert = files::readFile(certFile, 1 << 20);
    if (!cert) return fail(cert.error().wrap("-cert-file"));
    auto key = files::readFile(keyFile, 1 << 20);
    if (!key) return fail(key.error().wrap("-cert-key"));
    auto c = certOfPem(*cert);
    auto k = keyOfPem(*key);
    if (!c || !k || X509_check_private_key(c.get(), k.get()) != 1) {
      return fail(Code::kInvalidArgument, "-cert-file and -cert-key do not form a certificate and its key");
    }
    impl_->client.clientCertPem = *cert;
    impl_->client.clientKeyPem = *key;
    impl_->clientCa = *cert;
  }
  return {};
}

Result<ServerCert> OpensslCertIssuer::issueServer(const std::string& instanceName) {
  std::lock_guard lock(impl_->mu);
  auto key = newKey();
  if (!key) return fail(Code::kInternal, "cannot generate a P-256 key");
  auto cert = makeCert(key.get(), "agent-protocol-forwarder", instanceName, impl_->caCert.get(),
                       impl_->caKey.get(), false, "serverAuth", instanceName);
  return ServerCert{pemOfCert(cert.get()), pemOfKey(key.get())};
}

ClientBundle OpensslCertIssuer::clientBundle() const {
  std::lock_guard lock(impl_->mu);
  return impl_->client;
}

std::string OpensslCertIssuer::clientCaPem() const {
  std::lock_guard lock(impl_->mu);
  return impl_->clientCa;
}

}  // namespace pp::adaptor
