#include <openssl/ssl.h>

#include "adaptor/tls_material.h"

namespace pp::adaptor {

Result<std::shared_ptr<asio::ssl::context>> makeClientContext(const ClientBundle& bundle,
                                                              bool skipVerify,
                                                              const net::TlsProfile& profile) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  if (auto st = net::applyTlsProfile(ctx->native_handle(), profile); !st) return fail(st.error());
  // Idle agent connections give their 16 KiB record buffers back.
  SSL_CTX_set_mode(ctx->native_handle(), SSL_MODE_RELEASE_BUFFERS);
  asio::error_code ec;
  if (!bundle.clientCertPem.empty()) {
    ctx->use_certificate_chain(asio::buffer(bundle.clientCertPem), ec);
    if (ec) return fail(Code::kInvalidArgument, "client certificate: " + ec.message());
    ctx->use_private_key(asio::buffer(bundle.clientKeyPem), asio::ssl::context::pem, ec);
    if (ec) return fail(Code::kInvalidArgument, "client key: " + ec.message());
  }
  if (skipVerify) {
    ctx->set_verify_mode(asio::ssl::verify_none);
    return ctx;
  }
  if (bundle.caCertPem.empty())
    return fail(Code::kInvalidArgument, "no CA certificate to verify the pod VM");
  ctx->add_certificate_authority(asio::buffer(bundle.caCertPem), ec);
  if (ec) return fail(Code::kInvalidArgument, "CA certificate: " + ec.message());
  ctx->set_verify_mode(asio::ssl::verify_peer);
  return ctx;
}

}  // namespace pp::adaptor
