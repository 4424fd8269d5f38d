// Test double for Azure Resource Manager, the Microsoft Entra token endpoint and the IMDS
// managed-identity endpoint in one in-process HTTP server. ARM requests must carry a bearer
// token the fake issued and the api-version of their resource provider; the VM PUT body is
// checked against the fields the provider relies on (virtualMachines schema); long-running
// operations are played with Azure-AsyncOperation; failures can be scripted per call.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "net/http_server.h"
#include "providers/testing/fake_cloud.h"

namespace pp::providers::azure::testing {

inline constexpr char kSub[] = "00000000-1111-2222-3333-444444444444";
inline constexpr char kGroup[] = "peerpods-rg";
inline constexpr char kTenant[] = "72f988bf-86f1-41af-91ab-2d7cd011db47";
inline constexpr char kClientId[] = "0e6b9d2c-peerpods-client";
inline constexpr char kClientSecret[] = "s3cr3t~peerpods.client_secret";

struct Call {
  std::string method;  // "METHOD kind", e.g. "PUT vm"
  std::string path, query, body, auth;
};

struct FakeVm {
  nlohmann::json body;  // the PUT body
  std::string state = "Creating";
  std::string privateIp, publicIp;
};

class FakeAzure {
 public:
  FakeAzure();
  ~FakeAzure();
  std::string url() const { return server_->baseUrl(); }

  // Scripted failure: the next `times` requests whose "METHOD kind" matches `what` (kinds: vm,
  // vms, nic, pip, disk, sizes, group, op, token) answer this status and ARM error, with a
  // Retry-After header when `retryAfter` is set ("ms:N": x-ms-retry-after-ms instead).
  void failNext(const std::string& what, int status, const std::string& code,
                const std::string& message, int times = 1, const std::string& retryAfter = "");

  std::vector<Call> calls(const std::string& methodKind = "") const;
  std::vector<std::string> problems() const;
  std::map<std::string, FakeVm> vms() const;
  std::vector<std::string> nics() const;
  std::vector<std::string> orphans() const;  // NICs, public IPs and disks, "kind/name"
  // A NIC, public IP or disk ("nic", "pip", "disk") that outlived its VM.
  void addOrphan(const std::string& kind, const std::string& name);
  std::vector<std::string> tokensIssued() const;

  // Behaviour.
  std::atomic<int> pollsUntilDone{2};  // InProgress answers before the operation ends
  std::string failCreateCode;          // non-empty: the create operation ends Failed
  std::string failCreateMessage;
  std::atomic<int> tokenLifetime{3600};
  std::string audience;                             // the token audience to expect; "" = url()
  std::atomic<bool> leaveNicOnFailure{true};        // a failed create leaves the NIC (as Azure may)
  std::atomic<bool> deleteWithLocationOnly{false};  // DELETE answers 202 + Location (no
                                                    // Azure-AsyncOperation); polls get 202
                                                    // until done, then 200

 private:
  net::ServerResponse handle(const net::ServerRequest& r);
  net::ServerResponse arm(const net::ServerRequest& r, const std::string& kind,
                          const std::vector<std::string>& seg);
  net::ServerResponse token(const net::ServerRequest& r, bool imds);
  void problem(std::string p);

  mutable std::mutex mu_;
  providers::testing::RequestLog<Call> log_;
  providers::testing::FailureScript failures_;
  std::map<std::string, FakeVm> vms_;
  std::vector<std::string> nics_, disks_, pips_;
  struct Op {
    std::string vm;
    bool create;
    int polls = 0;
  };
  std::map<std::string, Op> ops_;
  std::vector<std::string> tokens_;
  int counter_ = 0;
  std::unique_ptr<net::HttpServer> server_;
};

}  // namespace pp::providers::azure::testing
