# pp_tls: certificate issuing (CA, server and client certificates as upstream's tlsutil) and
# TLS contexts for Asio streams, on OpenSSL 3.
add_library(pp_tls
  openssl_util.cc
  certs.cc
  tls_context.cc
  tls_profile.cc
)
target_link_libraries(pp_tls PUBLIC pp_base OpenSSL::SSL OpenSSL::Crypto Threads::Threads)
target_compile_definitions(pp_tls PUBLIC ASIO_NO_DEPRECATED)

pp_test(NAME net_tls_test LABEL unit
  SOURCES certs_test.cc tls_context_test.cc tls_profile_test.cc https_test.cc
  LIBS pp_tls pp_http_server pp_http_client)
