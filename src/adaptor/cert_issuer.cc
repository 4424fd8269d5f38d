#include "adaptor/cert_issuer.h"

#include <fcntl.h>
#include <fmt/chrono.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <mutex>
#include <optional>
#include <tuple>
#include <vector>

#include "base/files.h"
#include "base/log.h"

namespace pp::adaptor {
namespace {

using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Clock = std::chrono::system_clock;

// Upstream's lifetime for every certificate.
constexpr std::chrono::seconds kValidity{2L * 365 * 24 * 3600};
using CertPtr = std::unique_ptr<X509, decltype(&X509_free)>;

KeyPtr newKey() {
  return KeyPtr(EVP_EC_gen("P-256"), EVP_PKEY_free);
}

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
                 EVP_PKEY* issuerKey, bool isCa, const char* eku, const std::string& dnsName,
                 std::time_t now) {
  CertPtr cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_time_adj(X509_getm_notBefore(cert.get()), -5 * 60, &now);
  X509_time_adj(X509_getm_notAfter(cert.get()), kValidity.count(), &now);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1, 0);
  if (!cn.empty()) {
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
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
  if (!dnsName.empty())
    addExt(cert.get(), signer, NID_subject_alt_name, ("DNS:" + dnsName).c_str());
  X509_sign(cert.get(), issuerKey ? issuerKey : key, EVP_sha256());
  return cert;
}

// When a certificate stops being valid.
Clock::time_point notAfter(X509* cert) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return Clock::time_point::min();
  return Clock::from_time_t(::timegm(&tm));
}

std::string formatTime(Clock::time_point t) {
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(Clock::to_time_t(t)));
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// The directory holding the material: nobody but us may replace what is in it.
Status checkDirectory(int dirFd, const std::string& dir) {
  struct stat st {};
  if (::fstat(dirFd, &st) != 0) return fail(Code::kInternal, dir + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) return fail(Code::kFailedPrecondition, dir + " is not a directory");
  if (st.st_uid != ::geteuid()) {
    return fail(Code::kFailedPrecondition,
                fmt::format("{} is owned by uid {}, not by uid {} that runs the adaptor; remove "
                            "it to regenerate the TLS material",
                            dir, st.st_uid, ::geteuid()));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return fail(Code::kFailedPrecondition,
                fmt::format("{} is writable by group or others (mode {:04o}); chmod 700 it, or "
                            "remove it to regenerate the TLS material",
                            dir, st.st_mode & 07777));
  }
  return {};
}

// Reads one file of the material through `dirFd`, without following a symbolic link. Missing:
// nullopt. A private key must be ours and private (mode 0600 or stricter): a key others could
// read is compromised, one they could write may be theirs.
Result<std::optional<std::string>> readMaterial(int dirFd, const std::string& dir,
                                                const std::string& name, bool secret) {
  const std::string path = dir + "/" + name;
  Fd fd(::openat(dirFd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    if (errno == ELOOP) {
      return fail(Code::kFailedPrecondition, path + " is a symbolic link, not a regular file");
    }
    return fail(Code::kFailedPrecondition, "opening " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(Code::kInternal, path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return fail(Code::kFailedPrecondition, path + " is not a regular file");
  if (secret && st.st_uid != ::geteuid()) {
    return fail(Code::kFailedPrecondition,
                fmt::format("private key {} is owned by uid {}, not by uid {} that runs the "
                            "adaptor; chown it, or remove {} to regenerate the TLS material",
                            path, st.st_uid, ::geteuid(), dir));
  }
  if (secret && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return fail(Code::kFailedPrecondition,
                fmt::format("private key {} is accessible by group or others (mode {:04o}); "
                            "chmod 600 it, or remove {} to regenerate the TLS material",
                            path, st.st_mode & 07777, dir));
  }
  constexpr size_t kMaxBytes = 1 << 20;
  std::string out;
  char buf[16 * 1024];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Code::kInternal, "reading " + path + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > kMaxBytes)
      return fail(Code::kOutOfRange, path + " is larger than 1 MiB");
    out.append(buf, static_cast<size_t>(n));
  }
  return std::optional<std::string>(std::move(out));
}

}  // namespace

struct OpensslCertIssuer::Impl {
  std::mutex mu;
  KeyPtr caKey{nullptr, EVP_PKEY_free};
  CertPtr caCert{nullptr, X509_free};
  std::string caCertPem;
  ClientBundle client;
  std::string clientCa;  // what the forwarder verifies our client certificate with
  CertIssuerOptions options;
  bool expiryWarned = false;

  std::time_t now() const { return Clock::to_time_t(options.now()); }
};

OpensslCertIssuer::~OpensslCertIssuer() = default;

Result<std::unique_ptr<OpensslCertIssuer>> OpensslCertIssuer::loadOrCreate(
    const std::string& dir, CertIssuerOptions options) {
  std::unique_ptr<OpensslCertIssuer> self(new OpensslCertIssuer());
  self->impl_ = std::make_unique<Impl>();
  Impl& m = *self->impl_;
  m.options = std::move(options);
  const Clock::time_point now = m.options.now();

  // Everything is read through one descriptor of the directory, which is checked first.
  std::optional<std::string> caPem, caKeyPem, clPem, clKeyPem;
  Fd dirFd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dirFd.get() < 0 && errno != ENOENT) {
    return fail(Code::kFailedPrecondition, "opening " + dir + ": " + std::strerror(errno));
  }
  if (dirFd.get() >= 0) {
    if (auto st = checkDirectory(dirFd.get(), dir); !st) return fail(st.error());
    for (auto& [name, out, secret] :
         std::vector<std::tuple<std::string, std::optional<std::string>*, bool>>{
             {"ca.crt", &caPem, false},
             {"ca.key", &caKeyPem, true},
             {"client.crt", &clPem, false},
             {"client.key", &clKeyPem, true}}) {
      auto read = readMaterial(dirFd.get(), dir, name, secret);
      if (!read) return fail(read.error());
      *out = std::move(*read);
    }
  }

  if (caPem && caKeyPem && clPem && clKeyPem) {
    m.caCert = certOfPem(*caPem);
    m.caKey = keyOfPem(*caKeyPem);
    auto clCert = certOfPem(*clPem);
    auto clKey = keyOfPem(*clKeyPem);
    if (!m.caCert || !m.caKey || X509_check_private_key(m.caCert.get(), m.caKey.get()) != 1 ||
        !clCert || !clKey || X509_check_private_key(clCert.get(), clKey.get()) != 1) {
      return fail(
          Code::kFailedPrecondition,
          "TLS material in " + dir + " is unreadable or inconsistent; remove it to regenerate");
    }
    // Renewing is safe while pod VMs run: each sandbox's state.json keeps the CA and client
    // certificate it was created with, and its proxy keeps using those; only sandboxes
    // created from now on get the new material.
    const Clock::time_point caEnd = notAfter(m.caCert.get());
    const Clock::time_point clientEnd = notAfter(clCert.get());
    const Clock::time_point end = std::min(caEnd, clientEnd);
    if (end > now + m.options.renewBefore) {
      m.caCertPem = *caPem;
      m.client = {m.caCertPem, *clPem, *clKeyPem};
      m.clientCa = *clPem;
      log::info("adaptor",
                "TLS CA in {} valid until {}, client certificate until {}; renewed at the first "
                "start after {}",
                dir, formatTime(caEnd), formatTime(clientEnd),
                formatTime(end - m.options.renewBefore));
      return self;
    }
    log::warn("adaptor",
              "TLS material in {} {} {} (CA until {}, client certificate until {}): renewing it; "
              "running pod VMs keep the material recorded with their sandbox",
              dir, end <= now ? "expired on" : "expires on", formatTime(end), formatTime(caEnd),
              formatTime(clientEnd));
  } else if (caPem || caKeyPem || clPem || clKeyPem) {
    log::warn("adaptor", "TLS material in {} is incomplete: creating it anew", dir);
  }

  const std::time_t t = Clock::to_time_t(now);
  m.caKey = newKey();
  if (!m.caKey) return fail(Code::kInternal, "cannot generate a P-256 key");
  m.caCert = makeCert(m.caKey.get(), "agent-protocol-forwarder", "peerpods CA", nullptr, nullptr,
                      true, nullptr, "", t);
  m.caCertPem = pemOfCert(m.caCert.get());
  // The client certificate is self-signed (as upstream); the forwarder trusts exactly it.
  auto clientKey = newKey();
  if (!clientKey) return fail(Code::kInternal, "cannot generate a P-256 key");
  auto clientCert = makeCert(clientKey.get(), "cloud-api-adaptor", "cloud-api-adaptor", nullptr,
                             nullptr, false, "clientAuth", "", t);
  m.client = {m.caCertPem, pemOfCert(clientCert.get()), pemOfKey(clientKey.get())};
  m.clientCa = m.client.clientCertPem;
  if (auto st = files::makeDirs(dir, 0700); !st) return fail(st.error());
  // Keys first: a crash in between leaves an incomplete set, which is created anew.
  for (auto& [name, content, mode] : std::vector<std::tuple<std::string, std::string, mode_t>>{
           {"ca.key", pemOfKey(m.caKey.get()), 0600},
           {"client.key", m.client.clientKeyPem, 0600},
           {"ca.crt", m.caCertPem, 0644},
           {"client.crt", m.client.clientCertPem, 0644}}) {
    if (auto st = files::writeAtomic(dir + "/" + name, content, mode); !st) return fail(st.error());
  }
  log::info("adaptor", "created TLS CA and client certificate in {}, valid until {}", dir,
            formatTime(notAfter(m.caCert.get())));
  return self;
}

Clock::time_point OpensslCertIssuer::caNotAfter() const {
  std::lock_guard lock(impl_->mu);
  return notAfter(impl_->caCert.get());
}

Status OpensslCertIssuer::useFiles(const std::string& caFile, const std::string& certFile,
                                   const std::string& keyFile) {
  std::lock_guard lock(impl_->mu);
  if (!caFile.empty()) {
    auto ca = files::readFile(caFile, 1 << 20);
    if (!ca) return fail(ca.error().wrap("-ca-cert-file"));
    if (!certOfPem(*ca))
      return fail(Code::kInvalidArgument, "-ca-cert-file " + caFile + " is not a PEM certificate");
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
      return fail(Code::kInvalidArgument,
                  "-cert-file and -cert-key do not form a certificate and its key");
    }
    impl_->client.clientCertPem = *cert;
    impl_->client.clientKeyPem = *key;
    impl_->clientCa = *cert;
  }
  return {};
}

Result<ServerCert> OpensslCertIssuer::issueServer(const std::string& instanceName) {
  std::lock_guard lock(impl_->mu);
  const Clock::time_point now = impl_->options.now();
  if (!impl_->expiryWarned && notAfter(impl_->caCert.get()) <= now + impl_->options.renewBefore) {
    // Renewal happens at start only: the certificates of a sandbox being created are taken
    // in several calls, which must all see the same CA.
    impl_->expiryWarned = true;
    log::warn("adaptor",
              "the TLS CA expires on {}, and the pod VMs whose certificates it issued cannot be "
              "verified after that: restart the adaptor to renew it for new pod VMs",
              formatTime(notAfter(impl_->caCert.get())));
  }
  auto key = newKey();
  if (!key) return fail(Code::kInternal, "cannot generate a P-256 key");
  auto cert =
      makeCert(key.get(), "agent-protocol-forwarder", instanceName, impl_->caCert.get(),
               impl_->caKey.get(), false, "serverAuth", instanceName, Clock::to_time_t(now));
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
