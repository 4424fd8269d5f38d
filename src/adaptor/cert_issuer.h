// CertIssuer backed by OpenSSL: an ECDSA P-256 CA (organisation "agent-protocol-forwarder")
// issuing 2-year server certificates (CN and DNS SAN = instance name) and a client
// certificate (organisation "cloud-api-adaptor"), as upstream's auto mTLS. The material is
// persisted in a directory (0700, keys 0600) so that a restarted adaptor keeps talking to the
// VMs it started; files given with -ca-cert-file/-cert-file/-cert-key take precedence.
#pragma once

#include <memory>
#include <string>

#include "adaptor/tls_material.h"

namespace pp::adaptor {

class OpensslCertIssuer final : public CertIssuer {
 public:
  // Loads the CA and client certificate from `dir`, creating them on first use.
  static Result<std::unique_ptr<OpensslCertIssuer>> loadOrCreate(const std::string& dir);
  ~OpensslCertIssuer() override;

  Result<ServerCert> issueServer(const std::string& instanceName) override;
  ClientBundle clientBundle() const override;
  std::string clientCaPem() const override;

  // Overrides the client side with user-provided files (-ca-cert-file verifies the VM,
  // -cert-file/-cert-key are presented to it).
  Status useFiles(const std::string& caFile, const std::string& certFile, const std::string& keyFile);

 private:
  OpensslCertIssuer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pp::adaptor
