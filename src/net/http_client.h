// Blocking HTTP(S) client on libcurl for cloud, Kubernetes and Docker Engine API calls. Each
// send() uses its own easy handle, so one HttpClient may be used from many threads at once;
// connections, DNS answers and TLS sessions are shared between the calls of one client (and
// its copies) so that consecutive calls to the same API reuse a kept-alive connection.
// Transport failures become UNAVAILABLE (DEADLINE_EXCEEDED on timeout); HTTP error statuses
// are not errors here, callers look at HttpResponse::status.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"

namespace pp::net {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Whole exchange, connecting included.
  std::chrono::milliseconds timeout{30000};
  // Connect to this unix socket instead of the URL's host (Docker Engine API); the URL still
  // gives the path, e.g. "http://localhost/v1.41/containers/json".
  std::string unixSocket;
  // TLS: CA bundle to verify the server with (files or PEM text), client certificate and key.
  std::string caFile;
  std::string caPem;
  std::string clientCertFile, clientKeyFile;
  std::string clientCertPem, clientKeyPem;
  bool insecureSkipVerify = false;
  // Larger response bodies are refused (RESOURCE_EXHAUSTED) rather than buffered.
  size_t maxResponseBytes = 64 << 20;
  // Streaming (Kubernetes watches): when set, the body of a 2xx response is handed to this
  // callback piece by piece as it arrives instead of being kept in HttpResponse::body (and
  // maxResponseBytes does not apply to it); returning false ends the transfer, which send()
  // then reports as CANCELLED. Error statuses are still buffered into body.
  std::function<bool(std::string_view)> onBody;
  // Polled while the transfer runs (at least once a second); returning true aborts it
  // (CANCELLED).
  // Lets a long-lived stream be stopped from another thread.
  std::function<bool()> cancelled;
};

struct HttpResponse {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // of the final response
  std::string body;

  // First value of the header `name` (case-insensitive); "" when absent.
  std::string header(std::string_view name) const;
  bool ok() const { return status >= 200 && status < 300; }
};

class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&);
  HttpClient& operator=(const HttpClient&);

  Result<HttpResponse> send(const HttpRequest& request) const;

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
};

// Percent-encodes everything but RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~), for
// query values and path segments.
std::string urlEncode(std::string_view text);

// Whether `url` points at a cloud's instance metadata service (link-local 169.254.0.0/16 and
// fe80::/10, AWS's fd00:ec2::254, Alibaba's 100.100.100.200, metadata.google.internal). The
// client never sends such requests through a proxy from the environment (http_proxy and the
// like): the answers carry credentials.
bool isMetadataServiceUrl(std::string_view url);

// The status code of a REST API's HTTP error as an error code, for what REST APIs agree on:
// 400 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 NOT_FOUND,
// 409 ALREADY_EXISTS, 429 RESOURCE_EXHAUSTED, 5xx UNAVAILABLE; any other status `otherwise`.
// A client maps its API's own statuses (and reasons) first and falls back to this.
Code codeForHttpStatus(long status, Code otherwise);

}  // namespace pp::net
