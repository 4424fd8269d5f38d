# pp_http_client: blocking HTTP(S) client on libcurl.
find_package(CURL REQUIRED)

add_library(pp_http_client http_client.cc)
target_link_libraries(pp_http_client PUBLIC pp_base PRIVATE CURL::libcurl)

pp_test(NAME net_http_client_test LABEL unit
  SOURCES http_client_test.cc
  LIBS pp_http_client pp_http_server)
