// CertIssuer on net::CertificateAuthority (net/tls.h, the one place certificates are made): an
// ECDSA P-256 CA (organisation "agent-protocol-forwarder") issuing 2-year server certificates
// (CN and SAN = instance name) and a self-signed client certificate (organisation
// "cloud-api-adaptor"), as upstream's auto mTLS. What this class adds is persistence: the
// material is kept in a directory (0700, keys 0600) so that a restarted adaptor keeps talking
// to the VMs it started; files given with -ca-cert-file/-cert-file/-cert-key take precedence.
//
// At load, a private key that is not owned by the user running the adaptor or that group or
// others may access is refused, as is a directory others may write: the adaptor does not
// start. A CA or client certificate that expired, or expires within `renewBefore`, is renewed
// then (both are, together). Pod VMs already running are not affected: each sandbox's
// state.json records the CA and client certificate it was created with, and its proxy uses
// those, also after a restart. Renewal happens at start only; an adaptor that has not been
// restarted warns when it issues a certificate from a CA that is about to expire.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "adaptor/tls_material.h"

namespace pp::adaptor {

struct CertIssuerOptions {
  // Certificates that expire within this time are renewed at load.
  std::chrono::seconds renewBefore = std::chrono::hours(30 * 24);
  // The current time; tests move it.
  std::function<std::chrono::system_clock::time_point()> now = [] {
    return std::chrono::system_clock::now();
  };
};

class OpensslCertIssuer final : public CertIssuer {
 public:
  // Loads the CA and client certificate from `dir`, creating them on first use and renewing
  // them when they are about to expire.
  static Result<std::unique_ptr<OpensslCertIssuer>> loadOrCreate(const std::string& dir,
                                                                 CertIssuerOptions options = {});
  ~OpensslCertIssuer() override;

  Result<ServerCert> issueServer(const std::string& instanceName) override;
  ClientBundle clientBundle() const override;
  std::string clientCaPem() const override;
  // When the CA (and with it the certificates it issued) stops being valid.
  std::chrono::system_clock::time_point caNotAfter() const;

  // Overrides the client side with user-provided files (-ca-cert-file verifies the VM,
  // -cert-file/-cert-key are presented to it).
  Status useFiles(const std::string& caFile, const std::string& certFile,
                  const std::string& keyFile);

 private:
  OpensslCertIssuer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pp::adaptor
