// TLS material and contexts (OpenSSL 3), as upstream's pkg/util/tlsutil does it:
//  - the adaptor creates a CA (organisation "agent-protocol-forwarder") and a self-signed
//    client certificate (organisation "cloud-api-adaptor", clientAuth) at start, unless files
//    are given with -ca-cert-file/-cert-file/-cert-key;
//  - per pod VM the CA issues a server certificate whose CN and DNS SAN are the instance name;
//  - every key is ECDSA P-256, every certificate valid for 2 years from now - 5 minutes.
// Contexts are for Asio streams: TLS 1.2 at least (or the TLS profile's minimum), no compression
// or renegotiation, record buffers released while idle (SSL_MODE_RELEASE_BUFFERS), the key
// checked against its certificate, peer verification on unless skipVerify.
// A certificate present in a trust bundle is trusted as such even when it is not self-signed or
// not a CA (X509_V_FLAG_PARTIAL_CHAIN), as Go's crypto/x509 does with its root pool, so that
// users may pin a leaf or an intermediate with -ca-cert-file as they can upstream.
#pragma once

#include <openssl/ssl.h>

#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace pp::net {

// A certificate and its private key, both PEM. keyPem is a secret: never log it.
struct CertifiedKey {
  std::string certPem;
  std::string keyPem;
};
using KeyPair = CertifiedKey;

// Organisations upstream puts in its certificates.
inline constexpr std::string_view kCaOrganization = "agent-protocol-forwarder";
inline constexpr std::string_view kClientOrganization = "cloud-api-adaptor";

// Certificates are valid from `now` - 5 minutes for 2 years; tests pass another `now`.
using CertClock = std::chrono::system_clock;

class CertificateAuthority {
 public:
  // A new self-signed CA with a fresh P-256 key.
  static Result<CertificateAuthority> create(std::string_view organization,
                                             std::string_view commonName,
                                             CertClock::time_point now = CertClock::now());
  // An existing CA; fails when either PEM does not parse, the key does not belong to the
  // certificate, or the certificate is not a CA.
  static Result<CertificateAuthority> load(std::string_view certPem, std::string_view keyPem);

  // Server certificate for a pod VM: CN and DNS SAN = name (an IP address becomes an IP SAN),
  // serverAuth, organisation of the CA.
  Result<CertifiedKey> issueServer(std::string_view name,
                                   CertClock::time_point now = CertClock::now()) const;
  // Client certificate (clientAuth) signed by this CA.
  Result<CertifiedKey> issueClient(std::string_view organization, std::string_view commonName,
                                   CertClock::time_point now = CertClock::now()) const;

  const std::string& certPem() const;
  // For persisting the CA (mode 0600); a secret.
  const std::string& keyPem() const;

 private:
  struct State;
  explicit CertificateAuthority(std::shared_ptr<const State> state) : state_(std::move(state)) {}
  std::shared_ptr<const State> state_;  // immutable, so issuing is thread-safe
};

// Upstream's client certificate: self-signed, clientAuth, CN = organisation. A server trusts
// it by using its certPem as client CA.
Result<CertifiedKey> selfSignedClient(std::string_view organization,
                                      CertClock::time_point now = CertClock::now());

// When the (first) certificate in `certPem` stops being valid.
Result<CertClock::time_point> certificateNotAfter(std::string_view certPem);

// Reads a PEM file holding at least one certificate (a CA bundle, a certificate chain).
// `what` names it in errors ("-ca-cert-file"): NOT_FOUND when missing, INVALID_ARGUMENT when
// it holds no PEM certificate.
Result<std::string> readCertificateFile(const std::string& path, std::string_view what);
// Reads a certificate file and its key file and checks that they belong together.
Result<CertifiedKey> readCertifiedKeyFiles(const std::string& certFile, const std::string& keyFile);
// Checks PEM text: the certificate parses, the key parses (unencrypted), and the key is the
// certificate's.
Status checkCertifiedKey(const CertifiedKey& pair);

// Upstream's TLS profile (-tls-min-version, -tls-cipher-suites; apf.json tls-min-version,
// tls-cipher-suites), checked as upstream's tlsconfig.ParseTLSOptions does: versions
// "VersionTLS12" | "VersionTLS13" ("" is 1.2), TLS 1.0/1.1 refused; suites by the names Go
// accepts (IANA names, items trimmed, empty items dropped), TLS 1.3 names accepted and ignored
// (neither Go nor this adaptor lets you choose them), none at all with VersionTLS13.
struct TlsProfile {
  int minVersion = TLS1_2_VERSION;  // never lower, as upstream
  std::string cipherList;           // OpenSSL's names for TLS 1.2, ':'-separated; "" = default
};
Result<TlsProfile> parseTlsProfile(std::string_view minVersion,
                                   const std::vector<std::string>& cipherSuites);
// Sets the minimum version and the TLS 1.2 suites on a context. Fails when this OpenSSL has
// none of the suites (RC4 and 3DES, which Go still accepts, are not built in).
Status applyTlsProfile(SSL_CTX* ctx, const TlsProfile& profile);
inline Status applyTlsProfile(asio::ssl::context& ctx, const TlsProfile& profile) {
  return applyTlsProfile(ctx.native_handle(), profile);
}

struct TlsServerConfig {
  std::string certPem;  // leaf first, then intermediates
  std::string keyPem;
  // When set, clients must present a certificate that verifies against these
  // (SSL_VERIFY_FAIL_IF_NO_PEER_CERT): a handshake without one fails.
  std::string clientCaPem;
  // Upstream's TLS profile (minimum version, TLS 1.2 suites); the default is TLS 1.2+.
  TlsProfile profile;
};

struct TlsClientConfig {
  // Client certificate to present (optional).
  std::string certPem;
  std::string keyPem;
  // Verifies the server; required unless skipVerify.
  std::string caPem;
  // Name the server's certificate must carry (SAN); may instead be set per stream with
  // prepareClientStream, which a context shared by many peers needs.
  std::string serverName;
  // No verification of the server at all (-tls-skip-verify). Refused together with a CA:
  // upstream rejects that combination as contradictory.
  bool skipVerify = false;
  // Upstream's TLS profile (minimum version, TLS 1.2 suites); the default is TLS 1.2+.
  TlsProfile profile;
};

Result<std::shared_ptr<asio::ssl::context>> makeServerContext(const TlsServerConfig& config);
Result<std::shared_ptr<asio::ssl::context>> makeClientContext(const TlsClientConfig& config);

// Sets, on one connection before its handshake, the name the server's certificate must carry
// (DNS SAN, or IP SAN for an address) and the SNI. Overrides the context's serverName.
Status setExpectedServerName(SSL* ssl, std::string_view serverName);

template <typename NextLayer>
Status prepareClientStream(asio::ssl::stream<NextLayer>& stream, std::string_view serverName) {
  return setExpectedServerName(stream.native_handle(), serverName);
}

}  // namespace pp::net
