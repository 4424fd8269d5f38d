# pp_http_server: HTTP/1.1 server (Asio coroutines, optional TLS) for probes, metrics, the
# webhook and in-process fake cloud APIs.
add_library(pp_http_server
  http_request.cc
  http_request_parser.cc
  http_server.cc
  metrics_server.cc
  host_port.cc
)
target_link_libraries(pp_http_server PUBLIC pp_base OpenSSL::SSL OpenSSL::Crypto Threads::Threads)
target_compile_definitions(pp_http_server PUBLIC ASIO_NO_DEPRECATED)

pp_test(NAME net_http_server_test LABEL unit
  SOURCES http_request_parser_test.cc http_server_test.cc
  LIBS pp_http_server pp_http_client)
