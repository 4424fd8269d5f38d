// A TLS proxy between the vsphere provider and the simulator that fails chosen vim25 calls, so
// the tests can break a create at each of its steps. Requests are keyed "<Method> <body>" and
// matched by substring against the FailureScript (providers/testing/fake_cloud.h):
//   status 500 -> the call is refused with a SOAP fault whose type is the failure's code (the
//                 simulator never sees it);
//   status 503 -> the call reaches the simulator, but its answer is lost (HTTP 503): the
//                 provider cannot know whether it was applied.
#pragma once

#include <memory>
#include <string>

#include "net/http_client.h"
#include "net/http_server.h"
#include "providers/testing/fake_cloud.h"

namespace pp::providers::vsphere::testing {

class FaultProxy {
 public:
  // Forwards to `upstream` (the simulator's https URL).
  static Result<std::unique_ptr<FaultProxy>> start(std::string upstream);
  ~FaultProxy();

  std::string url() const;  // https://127.0.0.1:PORT/sdk
  const std::string& thumbprint() const { return thumbprint_; }
  providers::testing::FailureScript& failures() { return failures_; }

 private:
  FaultProxy() : failures_(providers::testing::FailureScript::Match::kSubstring) {}
  net::ServerResponse handle(const net::ServerRequest& request);

  std::string upstream_;
  std::string thumbprint_;
  net::HttpClient http_;
  providers::testing::FailureScript failures_;
  std::unique_ptr<net::HttpServer> server_;
};

}  // namespace pp::providers::vsphere::testing
