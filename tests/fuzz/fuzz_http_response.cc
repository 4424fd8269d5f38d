// The HTTP client (net::HttpClient: libcurl underneath, our header and body callbacks with their
// caps on top) reading an answer from a server that cannot be trusted to be well-formed: a cloud
// API behind a broken proxy, a metadata service, the Kubernetes API. A loopback server in this
// process (net::testing::CannedServer) answers every request with the input bytes as they are
// (status line, headers, body) and closes the connection. Odd-sized inputs are read through the
// streaming path (onBody, as Kubernetes watches are).
//
// Invariants checked, on top of "no crash, no sanitizer report, no timeout":
// - an answer that is taken has a status of 100-599 and a body within maxResponseBytes;
// - header names and values carry no line breaks and names are not empty.
#include <cstdlib>
#include <string>

#include "fuzz_check.h"
#include "net/http_client.h"
#include "net/raw_socket_test_util.h"

using pp::fuzz::check;

namespace {

bool clean(std::string_view s) {
  return s.find_first_of("\r\n") == std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  for (const char* v : {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                        "ALL_PROXY", "no_proxy", "NO_PROXY"})
    ::unsetenv(v);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static pp::net::testing::CannedServer server("");
  static const pp::net::HttpClient client;
  server.setReply(pp::fuzz::text(data, size));

  pp::net::HttpRequest request;
  request.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/v1/things";
  request.timeout = std::chrono::seconds(3);
  request.maxResponseBytes = 64 * 1024;
  // One connection per answer: the server closes after each.
  request.headers.emplace_back("Connection", "close");
  size_t streamed = 0;
  if (size % 2 == 1) {
    request.onBody = [&](std::string_view piece) {
      streamed += piece.size();
      return true;
    };
  }
  auto response = client.send(request);
  if (!response) return 0;
  check(response->status >= 100 && response->status <= 599);
  check(response->body.size() <= request.maxResponseBytes);
  for (const auto& [name, value] : response->headers) {
    check(!name.empty() && clean(name) && clean(value));
  }
  (void)streamed;
  return 0;
}
