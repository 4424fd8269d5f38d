// Certificate files reloaded at handshake time, and upstream's TLS profile settings.
#include "webhook/cert_reloader.h"

#include <openssl/ssl.h>
#include <sys/stat.h>

#include <array>
#include <fmt/format.h>
#include <vector>

#include "base/flags.h"
#include "base/log.h"
#include "net/openssl_util.h"
#include "net/tls.h"

namespace pp::webhook {

struct CertReloader::Pair {
  std::string certPem;
  net::ossl::CertPtr leaf;
  net::ossl::KeyPtr key;
  STACK_OF(X509)* chain = nullptr;
  ~Pair() {
    if (chain) sk_X509_pop_free(chain, X509_free);
  }
};

namespace {

bool statFile(const std::string& path, unsigned long long* dev, unsigned long long* ino,
              unsigned long long* size, unsigned long long* mtimeNs) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  *dev = st.st_dev;
  *ino = st.st_ino;
  *size = static_cast<unsigned long long>(st.st_size);
  *mtimeNs = static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1000000000ull + st.st_mtim.tv_nsec;
  return true;
}

}  // namespace

CertReloader::CertReloader(std::string certFile, std::string keyFile)
    : certFile_(std::move(certFile)), keyFile_(std::move(keyFile)) {}

CertReloader::~CertReloader() = default;

Result<std::shared_ptr<CertReloader>> CertReloader::create(std::string certFile, std::string keyFile) {
  std::shared_ptr<CertReloader> r(new CertReloader(std::move(certFile), std::move(keyFile)));
  if (auto st = r->load(); !st) return fail(st.error());
  return r;
}

Status CertReloader::load() {
  Signature certSig, keySig;
  bool haveSigs = statFile(certFile_, &certSig.dev, &certSig.ino, &certSig.size, &certSig.mtimeNs) &&
                  statFile(keyFile_, &keySig.dev, &keySig.ino, &keySig.size, &keySig.mtimeNs);
  auto pem = net::readCertifiedKeyFiles(certFile_, keyFile_);
  if (!pem) return fail(pem.error());
  auto pair = std::make_shared<Pair>();
  pair->certPem = pem->certPem;
  auto certs = net::ossl::parseCertificates(pem->certPem);
  pair->key = net::ossl::parsePrivateKey(pem->keyPem);
  if (certs.empty() || !pair->key) {
    return fail(Code::kInvalidArgument, fmt::format("{} / {}: cannot parse the certificate or key", certFile_, keyFile_));
  }
  pair->leaf = std::move(certs[0]);
  pair->chain = sk_X509_new_null();
  for (size_t i = 1; i < certs.size(); ++i) sk_X509_push(pair->chain, certs[i].release());
  std::lock_guard lock(mu_);
  current_ = std::move(pair);
  if (haveSigs) {
    certSig_ = certSig;
    keySig_ = keySig;
  }
  return {};
}

Result<bool> CertReloader::refresh() {
  Signature certSig, keySig;
  if (!statFile(certFile_, &certSig.dev, &certSig.ino, &certSig.size, &certSig.mtimeNs) ||
      !statFile(keyFile_, &keySig.dev, &keySig.ino, &keySig.size, &keySig.mtimeNs)) {
    // Missing for a moment while the volume is swapped: keep serving the pair we have.
    return false;
  }
  {
    std::lock_guard lock(mu_);
    if (certSig == certSig_ && keySig == keySig_) return false;
    if (certSig == badCertSig_ && keySig == badKeySig_) {
      return fail(Code::kInvalidArgument, "the certificate files are still an invalid pair");
    }
  }
  if (auto st = load(); !st) {
    failedReloads_.fetch_add(1);
    std::lock_guard lock(mu_);
    badCertSig_ = certSig;
    badKeySig_ = keySig;
    log::warn("webhook", "serving certificate changed but cannot be used yet (keeping the previous one): {}",
              st.error().message);
    return fail(st.error());
  }
  reloads_.fetch_add(1);
  log::info("webhook", "serving certificate reloaded from {}", certFile_);
  return true;
}

std::string CertReloader::certPem() const {
  std::lock_guard lock(mu_);
  return current_ ? current_->certPem : std::string();
}

int CertReloader::onCertificate(SSL* ssl, void* arg) {
  auto* self = static_cast<CertReloader*>(arg);
  (void)self->refresh();  // failures are logged once and leave the previous pair in use
  std::shared_ptr<const Pair> pair;
  {
    std::lock_guard lock(self->mu_);
    pair = self->current_;
  }
  if (!pair) return 0;
  return SSL_use_cert_and_key(ssl, pair->leaf.get(), pair->key.get(), pair->chain, 1) == 1 ? 1 : 0;
}

Status CertReloader::install(asio::ssl::context& ctx) {
  SSL_CTX_set_cert_cb(ctx.native_handle(), &CertReloader::onCertificate, this);
  return {};
}

namespace {

struct CipherName {
  std::string_view go;
  std::string_view openssl;
};

// The TLS 1.2 suites Go offers that OpenSSL 3 also has (Go's secure list and the RSA-kex GCM
// ones Kubernetes still lists).
constexpr std::array<CipherName, 10> kCiphers{{
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"},
    {"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"},
    {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
}};

}  // namespace

Result<TlsProfile> parseTlsProfile(std::string_view minVersion, std::string_view cipherSuites) {
  TlsProfile profile;
  std::string version(minVersion);
  while (!version.empty() && version.back() == ' ') version.pop_back();
  while (!version.empty() && version.front() == ' ') version.erase(version.begin());
  if (version == "VersionTLS10" || version == "VersionTLS11") {
    return fail(Code::kInvalidArgument, fmt::format("invalid TLS_MIN_VERSION \"{}\": TLS 1.0 and 1.1 are not "
                                                    "supported, use VersionTLS12 or VersionTLS13", version));
  }
  if (version == "VersionTLS12") {
    profile.minVersion = TLS1_2_VERSION;
  } else if (version == "VersionTLS13") {
    profile.minVersion = TLS1_3_VERSION;
  } else if (!version.empty()) {
    return fail(Code::kInvalidArgument,
                fmt::format("invalid TLS_MIN_VERSION \"{}\": use VersionTLS12 or VersionTLS13", version));
  }
  std::vector<std::string> names = flags::splitList(cipherSuites);
  if (!names.empty() && profile.minVersion == TLS1_3_VERSION) {
    return fail(Code::kInvalidArgument,
                "TLS_CIPHER_SUITES may not be set when TLS_MIN_VERSION is VersionTLS13 (TLS 1.3 suites are fixed)");
  }
  for (const auto& name : names) {
    const CipherName* found = nullptr;
    for (const auto& c : kCiphers) {
      if (c.go == name) found = &c;
    }
    if (!found) {
      std::string known;
      for (const auto& c : kCiphers) known += (known.empty() ? "" : ", ") + std::string(c.go);
      return fail(Code::kInvalidArgument, fmt::format("unknown TLS cipher suite \"{}\"; known: {}", name, known));
    }
    if (!profile.opensslCiphers.empty()) profile.opensslCiphers += ':';
    profile.opensslCiphers += found->openssl;
  }
  return profile;
}

Status applyTlsProfile(asio::ssl::context& ctx, const TlsProfile& profile) {
  SSL_CTX* native = ctx.native_handle();
  if (profile.minVersion != 0 && SSL_CTX_set_min_proto_version(native, profile.minVersion) != 1) {
    return fail(Code::kInternal, "cannot set the minimum TLS version: " + net::ossl::takeErrors());
  }
  if (!profile.opensslCiphers.empty() && SSL_CTX_set_cipher_list(native, profile.opensslCiphers.c_str()) != 1) {
    return fail(Code::kInvalidArgument, "cannot use the TLS cipher suites: " + net::ossl::takeErrors());
  }
  return {};
}

}  // namespace pp::webhook
