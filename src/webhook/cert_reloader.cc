// Certificate files reloaded at handshake time, and upstream's TLS profile settings.
#include "webhook/cert_reloader.h"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

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
  STACK_OF(X509) * chain = nullptr;
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
  *mtimeNs =
      static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1000000000ull + st.st_mtim.tv_nsec;
  return true;
}

}  // namespace

CertReloader::CertReloader(std::string certFile, std::string keyFile)
    : certFile_(std::move(certFile)), keyFile_(std::move(keyFile)) {}

CertReloader::~CertReloader() = default;

Result<std::shared_ptr<CertReloader>> CertReloader::create(std::string certFile,
                                                           std::string keyFile) {
  std::shared_ptr<CertReloader> r(new CertReloader(std::move(certFile), std::move(keyFile)));
  if (auto st = r->load(); !st) return fail(st.error());
  return r;
}

Status CertReloader::load() {
  Signature certSig, keySig;
  bool haveSigs =
      statFile(certFile_, &certSig.dev, &certSig.ino, &certSig.size, &certSig.mtimeNs) &&
      statFile(keyFile_, &keySig.dev, &keySig.ino, &keySig.size, &keySig.mtimeNs);
  auto pem = net::readCertifiedKeyFiles(certFile_, keyFile_);
  if (!pem) return fail(pem.error());
  auto pair = std::make_shared<Pair>();
  pair->certPem = pem->certPem;
  auto certs = net::ossl::parseCertificates(pem->certPem);
  pair->key = net::ossl::parsePrivateKey(pem->keyPem);
  if (certs.empty() || !pair->key) {
    return fail(Code::kInvalidArgument,
                fmt::format("{} / {}: cannot parse the certificate or key", certFile_, keyFile_));
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
    log::warn("webhook",
              "serving certificate changed but cannot be used yet (keeping the previous one): {}",
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

Result<TlsProfile> parseTlsProfile(std::string_view minVersion, std::string_view cipherSuites) {
  auto profile = net::parseTlsProfile(minVersion, flags::splitList(cipherSuites));
  if (!profile) return fail(profile.error().wrap("TLS_MIN_VERSION/TLS_CIPHER_SUITES"));
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> probe(SSL_CTX_new(TLS_server_method()),
                                                          &SSL_CTX_free);
  if (!probe) return fail(Code::kInternal, "cannot create a TLS context");
  if (auto st = net::applyTlsProfile(probe.get(), *profile); !st) {
    net::ossl::takeErrors();
    return fail(st.error().wrap("TLS_CIPHER_SUITES"));
  }
  return profile;
}

}  // namespace pp::webhook
