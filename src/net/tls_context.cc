// TLS contexts for Asio streams (the second half of net/tls.h).
#include <arpa/inet.h>
#include <fmt/format.h>
#include <openssl/x509v3.h>

#include "net/openssl_util.h"
#include "net/tls.h"

namespace pp::net {
namespace {

// Session resumption with client certificates needs a session id context; any constant
// shared by all our servers will do.
constexpr unsigned char kSessionIdContext[] = "peerpods";

std::unexpected<Error> invalid(std::string message) {
  std::string detail = ossl::takeErrors();
  if (!detail.empty()) message += ": " + detail;
  return fail(Code::kInvalidArgument, std::move(message));
}

// The profile's minimum version is never below TLS 1.2 (parseTlsProfile refuses lower ones).
Status applyCommonSettings(SSL_CTX* ctx, const TlsProfile& profile) {
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  // Idle connections (one per pod VM) give their 2 x 16 KiB record buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  return applyTlsProfile(ctx, profile);
}

// Installs the certificate (leaf first, then its chain) and key the peer will be shown.
Status useCertifiedKey(SSL_CTX* ctx, std::string_view certPem, std::string_view keyPem,
                       std::string_view who) {
  std::vector<ossl::CertPtr> chain = ossl::parseCertificates(certPem);
  if (chain.empty()) return invalid(fmt::format("{} certificate is not PEM", who));
  ossl::KeyPtr key = ossl::parsePrivateKey(keyPem);
  if (!key) return invalid(fmt::format("{} key is not an unencrypted PEM private key", who));
  if (SSL_CTX_use_certificate(ctx, chain.front().get()) != 1) {
    return invalid(fmt::format("{} certificate refused", who));
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, chain[i].get()) != 1) {
      return invalid(fmt::format("{} certificate chain refused", who));
    }
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return invalid(fmt::format("{} key does not match its certificate", who));
  }
  return {};
}

Status trust(SSL_CTX* ctx, std::string_view caPem, std::string_view what) {
  std::vector<ossl::CertPtr> certs = ossl::parseCertificates(caPem);
  if (certs.empty()) return invalid(fmt::format("{} holds no PEM certificate", what));
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (auto& cert : certs) {
    if (X509_STORE_add_cert(store, cert.get()) != 1) {
      return invalid(fmt::format("{} refused", what));
    }
  }
  // See net/tls.h: the bundle's certificates are trust anchors as they are.
  X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
  return {};
}

bool isIpAddress(const std::string& text) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

// Expects `name` in the peer certificate: as an IP SAN for addresses, else as a DNS SAN
// (wildcards allowed only as a whole left-most label).
Status expectName(X509_VERIFY_PARAM* param, const std::string& name) {
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  bool ok;
  if (isIpAddress(name)) {
    ok = X509_VERIFY_PARAM_set1_host(param, nullptr, 0) == 1 &&
         X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1;
  } else {
    ok = X509_VERIFY_PARAM_set1_ip(param, nullptr, 0) == 1 &&
         X509_VERIFY_PARAM_set1_host(param, name.data(), name.size()) == 1;
  }
  if (!ok) return invalid(fmt::format("cannot expect server name {}", name));
  return {};
}

}  // namespace

Result<std::shared_ptr<asio::ssl::context>> makeServerContext(const TlsServerConfig& config) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  if (auto st = applyCommonSettings(native, config.profile); !st) return fail(st.error());
  // The server picks the cipher (ours are all strong; the client's order may not be).
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE);
  // No TLS 1.3 session tickets: none of our clients resumes (one long-lived connection per pod
  // VM, a new pod VM each time), and each ticket costs CPU at every handshake: OpenSSL 3.0
  // copies the session through DER, parsing the peer certificate again with its decoders (~20%
  // of the handshakes' CPU in bench/sandboxes, on the side that issued tickets).
  SSL_CTX_set_num_tickets(native, 0);
  if (auto st = useCertifiedKey(native, config.certPem, config.keyPem, "server"); !st)
    return fail(st.error());
  if (!config.clientCaPem.empty()) {
    if (auto st = trust(native, config.clientCaPem, "client CA"); !st) return fail(st.error());
    SSL_CTX_set_session_id_context(native, kSessionIdContext, sizeof kSessionIdContext - 1);
    ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  } else {
    ctx->set_verify_mode(asio::ssl::verify_none);
  }
  return ctx;
}

Result<std::shared_ptr<asio::ssl::context>> makeClientContext(const TlsClientConfig& config) {
  if (config.skipVerify && !config.caPem.empty()) {
    return fail(Code::kInvalidArgument, "TLS skip-verify cannot be combined with a CA certificate");
  }
  if (!config.skipVerify && config.caPem.empty()) {
    return fail(Code::kInvalidArgument, "no CA certificate to verify the server with");
  }
  if (config.certPem.empty() != config.keyPem.empty()) {
    return fail(Code::kInvalidArgument, "client certificate and key must be given together");
  }
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  if (auto st = applyCommonSettings(native, config.profile); !st) return fail(st.error());
  if (!config.certPem.empty()) {
    if (auto st = useCertifiedKey(native, config.certPem, config.keyPem, "client"); !st)
      return fail(st.error());
  }
  if (config.skipVerify) {
    ctx->set_verify_mode(asio::ssl::verify_none);
    return ctx;
  }
  if (auto st = trust(native, config.caPem, "CA certificate"); !st) return fail(st.error());
  if (!config.serverName.empty()) {
    if (auto st = expectName(SSL_CTX_get0_param(native), config.serverName); !st)
      return fail(st.error());
  }
  ctx->set_verify_mode(asio::ssl::verify_peer);
  return ctx;
}

Status setExpectedServerName(SSL* ssl, std::string_view serverName) {
  if (serverName.empty()) return fail(Code::kInvalidArgument, "empty server name");
  std::string name(serverName);
  if (auto st = expectName(SSL_get0_param(ssl), name); !st) return st;
  // SNI carries host names only (RFC 6066), never addresses.
  if (!isIpAddress(name) && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
    return invalid(fmt::format("cannot set SNI {}", name));
  }
  return {};
}

}  // namespace pp::net
