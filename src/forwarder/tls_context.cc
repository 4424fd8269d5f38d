#include <openssl/ssl.h>

#include "forwarder/forwarder.h"

namespace pp::forwarder {

Result<std::shared_ptr<asio::ssl::context>> makeServerContext(const std::string& certPem,
                                                              const std::string& keyPem,
                                                              const std::string& clientCaPem,
                                                              const net::TlsProfile& profile) {
  if (certPem.empty() || keyPem.empty()) {
    return fail(Code::kInvalidArgument, "TLS needs a server certificate and key");
  }
  if (clientCaPem.empty()) {
    return fail(Code::kInvalidArgument, "TLS needs a client CA to authenticate clients with");
  }
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  if (auto st = net::applyTlsProfile(ctx->native_handle(), profile); !st) return fail(st.error());
  // An idle agent connection gives its 16 KiB record buffers back.
  SSL_CTX_set_mode(ctx->native_handle(), SSL_MODE_RELEASE_BUFFERS);
  asio::error_code ec;
  ctx->use_certificate_chain(asio::buffer(certPem), ec);
  if (ec) return fail(Code::kInvalidArgument, "TLS server certificate: " + ec.message());
  ctx->use_private_key(asio::buffer(keyPem), asio::ssl::context::pem, ec);
  if (ec) return fail(Code::kInvalidArgument, "TLS server key: " + ec.message());
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return fail(Code::kInvalidArgument, "TLS server key does not match the certificate");
  }
  ctx->add_certificate_authority(asio::buffer(clientCaPem), ec);
  if (ec) return fail(Code::kInvalidArgument, "TLS client CA: " + ec.message());
  ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  return ctx;
}

}  // namespace pp::forwarder
