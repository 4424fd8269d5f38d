// Serving certificate that follows its files. cert-manager renews the webhook certificate and
// the kubelet swaps the Secret volume's files in place; the server must pick the new pair up
// without a restart (controller-runtime's certwatcher does this upstream).
//
// The files are checked (two stat calls) at each TLS handshake; when either changed (inode,
// size or mtime), both are read again and, if they parse and belong together, used from then
// on. A half-updated pair (new certificate, old key) is refused with a warning and the previous
// pair keeps serving until the files settle.
#pragma once

#include <asio/ssl/context.hpp>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "base/error.h"
#include "net/tls.h"

namespace pp::webhook {

class CertReloader {
 public:
  // Loads the pair now: NOT_FOUND / INVALID_ARGUMENT with the file named when it cannot.
  static Result<std::shared_ptr<CertReloader>> create(std::string certFile, std::string keyFile);
  ~CertReloader();

  // Makes every handshake on `ctx` use the current pair (SSL_CTX_set_cert_cb). The reloader
  // must outlive the context's connections; the server keeps a shared_ptr to it.
  Status install(asio::ssl::context& ctx);

  // Re-reads the files if they changed. true when a new pair was taken; an error when they
  // changed but do not form a valid pair (the old pair stays).
  Result<bool> refresh();

  // The current pair as PEM (the key is a secret: never log it).
  std::string certPem() const;
  uint64_t reloads() const { return reloads_.load(); }
  uint64_t failedReloads() const { return failedReloads_.load(); }

 private:
  struct Pair;
  struct Signature {
    unsigned long long dev = 0, ino = 0, size = 0, mtimeNs = 0;
    bool operator==(const Signature&) const = default;
  };
  CertReloader(std::string certFile, std::string keyFile);
  Status load();
  static int onCertificate(struct ssl_st* ssl, void* arg);

  std::string certFile_, keyFile_;
  mutable std::mutex mu_;
  std::shared_ptr<const Pair> current_;
  Signature certSig_, keySig_;        // of the pair in use
  Signature badCertSig_, badKeySig_;  // of the last pair that failed, to warn once
  std::atomic<uint64_t> reloads_{0};
  std::atomic<uint64_t> failedReloads_{0};
};

// Upstream's TLS_MIN_VERSION / TLS_CIPHER_SUITES, checked by net::parseTlsProfile as the
// adaptor's and the forwarder's are (Go's names and rules); cipherSuites is the
// comma-separated variable. Errors name the variables; suites Go accepts but this OpenSSL lacks
// (RC4, 3DES) are refused here too, so that a bad setting stops the start with its name.
// applyTlsProfile is net's (found by argument-dependent lookup).
using TlsProfile = net::TlsProfile;
Result<TlsProfile> parseTlsProfile(std::string_view minVersion, std::string_view cipherSuites);

}  // namespace pp::webhook
