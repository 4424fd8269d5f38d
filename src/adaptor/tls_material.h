// TLS material of the adaptor: a CA that issues each pod VM's server certificate (SAN = the
// instance name) and the client certificate the proxy presents to the VM's forwarder.
#pragma once

#include <asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "base/error.h"
#include "net/tls.h"

namespace pp::adaptor {

using ServerCert = net::CertifiedKey;

struct ClientBundle {
  std::string caCertPem;      // verifies the VM's server certificate
  std::string clientCertPem;  // presented to the forwarder
  std::string clientKeyPem;
};

class CertIssuer {
 public:
  virtual ~CertIssuer() = default;
  virtual Result<ServerCert> issueServer(const std::string& instanceName) = 0;
  virtual ClientBundle clientBundle() const = 0;
  // What the forwarder uses to verify our client certificate (apf.json tls-client-ca).
  virtual std::string clientCaPem() const = 0;
};

// Builds the proxy's client TLS context from a sandbox's bundle (net::makeClientContext). With
// skipVerify the server certificate is not checked (-tls-skip-verify) and the bundle's CA is
// not used. `profile`: upstream's TLS profile.
inline Result<std::shared_ptr<asio::ssl::context>> makeClientContext(
    const ClientBundle& bundle, bool skipVerify, const net::TlsProfile& profile = {}) {
  return net::makeClientContext({.certPem = bundle.clientCertPem,
                                 .keyPem = bundle.clientKeyPem,
                                 .caPem = skipVerify ? std::string() : bundle.caCertPem,
                                 .skipVerify = skipVerify,
                                 .profile = profile});
}

}  // namespace pp::adaptor
