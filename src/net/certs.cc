// Certificate issuing and PEM loading (the first half of net/tls.h).
#include <arpa/inet.h>
#include <fmt/format.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <ctime>

#include "base/files.h"
#include "net/openssl_util.h"
#include "net/tls.h"

namespace pp::net {
namespace {

// PEM files are small; anything bigger is not what the flag should point at.
constexpr size_t kMaxPemFileBytes = 1 << 20;
constexpr long kBackdateSeconds = 5 * 60;  // tolerates clocks of pod VMs running behind
constexpr int kValidityYears = 2;

using BignumPtr = std::unique_ptr<BIGNUM, ossl::Deleter<BN_free>>;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, ossl::Deleter<X509_EXTENSION_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, ossl::Deleter<GENERAL_NAMES_free>>;

std::unexpected<Error> opensslFailure(std::string_view what) {
  std::string detail = ossl::takeErrors();
  return fail(Code::kInternal, std::string(what) + (detail.empty() ? "" : ": " + detail));
}

struct CertSpec {
  std::string_view organization;
  std::string_view commonName;
  bool isCa = false;
  const char* extendedKeyUsage = nullptr;  // "serverAuth" or "clientAuth"
  std::string_view subjectAltName;         // DNS name or IP address
};

bool isIpAddress(std::string_view text) {
  std::string s(text);
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool addNameEntry(X509_NAME* name, int nid, std::string_view value) {
  if (value.empty()) return true;
  return X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
                                    reinterpret_cast<const unsigned char*>(value.data()),
                                    static_cast<int>(value.size()), -1, 0) == 1;
}

bool addExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

// The SAN is built as a structure, not from configuration text, so that a name containing
// a comma cannot add names of its choosing.
bool addSubjectAltName(X509* cert, std::string_view name) {
  GeneralNamesPtr names(GENERAL_NAMES_new());
  GENERAL_NAME* entry = GENERAL_NAME_new();
  if (!names || !entry) {
    GENERAL_NAME_free(entry);
    return false;
  }
  if (isIpAddress(name)) {
    ASN1_OCTET_STRING* ip = a2i_IPADDRESS(std::string(name).c_str());
    if (!ip) {
      GENERAL_NAME_free(entry);
      return false;
    }
    GENERAL_NAME_set0_value(entry, GEN_IPADD, ip);
  } else {
    ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
    if (!dns || ASN1_STRING_set(dns, name.data(), static_cast<int>(name.size())) != 1) {
      ASN1_IA5STRING_free(dns);
      GENERAL_NAME_free(entry);
      return false;
    }
    GENERAL_NAME_set0_value(entry, GEN_DNS, dns);
  }
  if (sk_GENERAL_NAME_push(names.get(), entry) == 0) {
    GENERAL_NAME_free(entry);
    return false;
  }
  return X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) == 1;
}

// A random positive 127-bit serial, as Go's tlsutil uses random serials too.
bool setRandomSerial(X509* cert) {
  BignumPtr bn(BN_new());
  if (!bn || BN_rand(bn.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1) return false;
  if (BN_is_zero(bn.get())) BN_one(bn.get());
  return BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) != nullptr;
}

bool setValidity(X509* cert, CertClock::time_point from) {
  std::time_t now = CertClock::to_time_t(from);
  std::tm until{};
  gmtime_r(&now, &until);
  until.tm_year += kValidityYears;  // calendar years, as Go's AddDate
  std::time_t notAfter = timegm(&until);
  return ASN1_TIME_set(X509_getm_notBefore(cert), now - kBackdateSeconds) != nullptr &&
         ASN1_TIME_set(X509_getm_notAfter(cert), notAfter) != nullptr;
}

// The certificate's SubjectPublicKeyInfo for a P-256 key: the algorithm, the curve and the
// uncompressed point, set as they are. X509_set_pubkey in OpenSSL 3.0 encodes the key through
// an OSSL_ENCODER and decodes the result again, which was half the CPU of issuing a pod VM's
// certificate (bench/sandboxes, at every CreateVM). The X509 object then has no decoded key
// (X509_get0_pubkey is null); leaf certificates are only signed and written out as PEM.
bool setP256PublicKey(X509* cert, EVP_PKEY* key) {
  size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, nullptr, 0, &len) !=
          1 ||
      len != 65) {
    return false;
  }
  auto* point = static_cast<unsigned char*>(OPENSSL_malloc(len));
  if (!point || EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, len,
                                                &len) != 1) {
    OPENSSL_free(point);
    return false;
  }
  // Takes the point on success.
  if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert), OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
                             V_ASN1_OBJECT, OBJ_nid2obj(NID_X9_62_prime256v1), point,
                             static_cast<int>(len)) != 1) {
    OPENSSL_free(point);
    return false;
  }
  return true;
}

bool isP256(EVP_PKEY* key) {
  char group[32] = {};
  size_t len = 0;
  return EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
         EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                        &len) == 1 &&
         OBJ_txt2nid(group) == NID_X9_62_prime256v1;
}

// Builds and signs a certificate for subjectKey; self-signed when issuer is null.
Result<ossl::CertPtr> buildCertificate(const CertSpec& spec, EVP_PKEY* subjectKey, X509* issuer,
                                       EVP_PKEY* issuerKey, CertClock::time_point now) {
  ossl::CertPtr cert(X509_new());
  if (!cert) return opensslFailure("allocating a certificate");
  X509* c = cert.get();
  // A CA certificate stays in memory as the issuer of others, with its key decoded.
  const bool fastKey = issuer != nullptr && isP256(subjectKey);
  if (X509_set_version(c, X509_VERSION_3) != 1 || !setRandomSerial(c) || !setValidity(c, now) ||
      !(fastKey ? setP256PublicKey(c, subjectKey) : X509_set_pubkey(c, subjectKey) == 1)) {
    return opensslFailure("filling in a certificate");
  }
  X509_NAME* subject = X509_get_subject_name(c);
  if (!addNameEntry(subject, NID_organizationName, spec.organization) ||
      !addNameEntry(subject, NID_commonName, spec.commonName)) {
    // Typically a common name longer than the 64 characters X.509 allows.
    ossl::takeErrors();
    return fail(Code::kInvalidArgument, fmt::format("invalid certificate subject O={} CN={}",
                                                    spec.organization, spec.commonName));
  }
  X509* signer = issuer ? issuer : c;
  if (X509_set_issuer_name(c, X509_get_subject_name(signer)) != 1) {
    return opensslFailure("setting the certificate issuer");
  }
  bool ok = addExtension(c, signer, NID_basic_constraints,
                         spec.isCa ? "critical,CA:TRUE" : "critical,CA:FALSE") &&
            addExtension(c, signer, NID_key_usage,
                         spec.isCa ? "critical,digitalSignature,keyCertSign,cRLSign"
                                   : "critical,digitalSignature") &&
            addExtension(c, signer, NID_subject_key_identifier, "hash") &&
            addExtension(c, signer, NID_authority_key_identifier, "keyid:always");
  if (ok && spec.extendedKeyUsage)
    ok = addExtension(c, signer, NID_ext_key_usage, spec.extendedKeyUsage);
  if (ok && !spec.subjectAltName.empty()) ok = addSubjectAltName(c, spec.subjectAltName);
  if (!ok) return opensslFailure("adding certificate extensions");
  if (X509_sign(c, issuerKey ? issuerKey : subjectKey, EVP_sha256()) <= 0) {
    return opensslFailure("signing a certificate");
  }
  return cert;
}

Result<ossl::KeyPtr> newKey() {
  ossl::KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return opensslFailure("generating a P-256 key");
  return key;
}

Result<CertifiedKey> toPem(X509* cert, EVP_PKEY* key) {
  CertifiedKey out{ossl::certificateToPem(cert), ossl::privateKeyToPem(key)};
  if (out.certPem.empty() || out.keyPem.empty()) return opensslFailure("encoding PEM");
  return out;
}

std::string organizationOf(X509* cert) {
  X509_NAME* name = X509_get_subject_name(cert);
  int index = X509_NAME_get_index_by_NID(name, NID_organizationName, -1);
  if (index < 0) return {};
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, data);
  if (n < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

Status checkPair(X509* cert, EVP_PKEY* key, std::string_view certWhat, std::string_view keyWhat) {
  if (X509_check_private_key(cert, key) != 1) {
    ossl::takeErrors();
    return fail(Code::kInvalidArgument, fmt::format("{} does not match {}", keyWhat, certWhat));
  }
  return {};
}

}  // namespace

struct CertificateAuthority::State {
  ossl::CertPtr cert;
  ossl::KeyPtr key;
  std::string certPem;
  std::string keyPem;
  std::string organization;
};

Result<CertificateAuthority> CertificateAuthority::create(std::string_view organization,
                                                          std::string_view commonName,
                                                          CertClock::time_point now) {
  auto key = newKey();
  if (!key) return fail(key.error());
  auto cert =
      buildCertificate({.organization = organization, .commonName = commonName, .isCa = true},
                       key->get(), nullptr, nullptr, now);
  if (!cert) return fail(cert.error().wrap("creating CA certificate"));
  auto pem = toPem(cert->get(), key->get());
  if (!pem) return fail(pem.error());
  auto state = std::make_shared<State>();
  state->cert = std::move(*cert);
  state->key = std::move(*key);
  state->certPem = std::move(pem->certPem);
  state->keyPem = std::move(pem->keyPem);
  state->organization = organization;
  return CertificateAuthority(std::move(state));
}

Result<CertificateAuthority> CertificateAuthority::load(std::string_view certPem,
                                                        std::string_view keyPem) {
  ossl::CertPtr cert = ossl::parseCertificate(certPem);
  if (!cert) return fail(Code::kInvalidArgument, "CA certificate is not a PEM certificate");
  ossl::KeyPtr key = ossl::parsePrivateKey(keyPem);
  if (!key) return fail(Code::kInvalidArgument, "CA key is not an unencrypted PEM private key");
  if (auto st = checkPair(cert.get(), key.get(), "the CA certificate", "CA key"); !st)
    return fail(st.error());
  if (X509_check_ca(cert.get()) < 1) {
    return fail(Code::kInvalidArgument,
                "CA certificate is not a CA (basicConstraints CA:TRUE missing)");
  }
  auto state = std::make_shared<State>();
  state->organization = organizationOf(cert.get());
  state->cert = std::move(cert);
  state->key = std::move(key);
  state->certPem = certPem;
  state->keyPem = keyPem;
  return CertificateAuthority(std::move(state));
}

Result<CertifiedKey> CertificateAuthority::issueServer(std::string_view name,
                                                       CertClock::time_point now) const {
  if (name.empty()) return fail(Code::kInvalidArgument, "server certificate needs a name");
  auto key = newKey();
  if (!key) return fail(key.error());
  std::string_view org =
      state_->organization.empty() ? kCaOrganization : std::string_view(state_->organization);
  auto cert = buildCertificate({.organization = org,
                                .commonName = name,
                                .extendedKeyUsage = "serverAuth",
                                .subjectAltName = name},
                               key->get(), state_->cert.get(), state_->key.get(), now);
  if (!cert) return fail(cert.error().wrap(fmt::format("issuing server certificate for {}", name)));
  return toPem(cert->get(), key->get());
}

Result<CertifiedKey> CertificateAuthority::issueClient(std::string_view organization,
                                                       std::string_view commonName,
                                                       CertClock::time_point now) const {
  auto key = newKey();
  if (!key) return fail(key.error());
  auto cert = buildCertificate(
      {.organization = organization, .commonName = commonName, .extendedKeyUsage = "clientAuth"},
      key->get(), state_->cert.get(), state_->key.get(), now);
  if (!cert) return fail(cert.error().wrap("issuing client certificate"));
  return toPem(cert->get(), key->get());
}

const std::string& CertificateAuthority::certPem() const {
  return state_->certPem;
}
const std::string& CertificateAuthority::keyPem() const {
  return state_->keyPem;
}

Result<CertifiedKey> selfSignedClient(std::string_view organization, CertClock::time_point now) {
  auto key = newKey();
  if (!key) return fail(key.error());
  auto cert = buildCertificate(
      {.organization = organization, .commonName = organization, .extendedKeyUsage = "clientAuth"},
      key->get(), nullptr, nullptr, now);
  if (!cert) return fail(cert.error().wrap("creating client certificate"));
  return toPem(cert->get(), key->get());
}

Result<CertClock::time_point> certificateNotAfter(std::string_view certPem) {
  ossl::CertPtr cert = ossl::parseCertificate(certPem);
  if (!cert) return fail(Code::kInvalidArgument, "certificate is not PEM");
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) != 1) {
    return opensslFailure("reading the certificate's notAfter");
  }
  return CertClock::from_time_t(timegm(&tm));
}

Result<std::string> readCertificateFile(const std::string& path, std::string_view what) {
  auto pem = files::readFile(path, kMaxPemFileBytes);
  if (!pem) {
    Code code = pem.error().code == Code::kNotFound ? Code::kNotFound : Code::kInvalidArgument;
    return fail(code, fmt::format("{}: {}", what, pem.error().message));
  }
  if (ossl::parseCertificates(*pem).empty()) {
    return fail(Code::kInvalidArgument, fmt::format("{}: {} holds no PEM certificate", what, path));
  }
  return pem;
}

Result<CertifiedKey> readCertifiedKeyFiles(const std::string& certFile,
                                           const std::string& keyFile) {
  auto cert = readCertificateFile(certFile, "certificate");
  if (!cert) return fail(cert.error());
  auto key = files::readFile(keyFile, kMaxPemFileBytes);
  if (!key) {
    Code code = key.error().code == Code::kNotFound ? Code::kNotFound : Code::kInvalidArgument;
    return fail(code, "private key: " + key.error().message);
  }
  CertifiedKey pair{std::move(*cert), std::move(*key)};
  if (auto st = checkCertifiedKey(pair); !st) {
    return fail(st.error().code,
                fmt::format("{} (certificate {}, key {})", st.error().message, certFile, keyFile));
  }
  return pair;
}

Status checkCertifiedKey(const CertifiedKey& pair) {
  ossl::CertPtr cert = ossl::parseCertificate(pair.certPem);
  if (!cert) return fail(Code::kInvalidArgument, "certificate is not PEM");
  ossl::KeyPtr key = ossl::parsePrivateKey(pair.keyPem);
  if (!key) return fail(Code::kInvalidArgument, "private key is not an unencrypted PEM key");
  return checkPair(cert.get(), key.get(), "the certificate", "private key");
}

}  // namespace pp::net
