// Test double for the IBM Power Virtual Server API of one workspace and for IAM Identity's
// API key details, on one in-process HTTP server (127.0.0.1:<free port>). Tokens come from a
// FakeIam (providers/ibmcloud/testing/fake_iam.h): every call must carry "Bearer <token>" that
// FakeIam issued and that has not expired, and every PowerVS call the workspace's CRN header
// (crn:v1:bluemix:public:power-iaas:<zone>:a/<account>:<workspace>::); otherwise it answers 401
// / 403 as PowerVS does and records a problem. A PVMInstanceCreate is checked against
// power-go-client's model (required fields, JSON types, enums, the 47-character name, base64
// user data). Instances are BUILD for a scripted number of GETs, then ACTIVE (or ERROR), and
// get their address from a fixed network or, on a DHCP network, a lease of the DHCP server
// matched by MAC. Errors use PowerVS's body {code, description, error, message}.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "net/http_server.h"
#include "providers/ibmcloud/testing/fake_iam.h"
#include "providers/testing/fake_cloud.h"

namespace pp::providers::powervs::testing {

inline constexpr char kAccountId[] = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
inline constexpr char kWorkspaceId[] = "3f6d1c2e-9a7b-4c1d-8e2f-0a1b2c3d4e5f";
inline constexpr char kZone[] = "dal12";
inline constexpr char kNetworkId[] = "0c9a8b7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d";
inline constexpr char kImageId[] = "b5e4d3c2-a1f0-4e9d-8c7b-6a5f4e3d2c1b";

struct PowerVsCall {
  std::string method, path;  // path below /pcloud/v1/cloud-instances/<id>, or the IAM path
  std::string crn;
  std::string authorization;  // as sent (tests check that tokens are never logged)
  bool tokenValid = false;
  nlohmann::json body;  // null when empty
  int status = 0;       // what the fake answered
};

struct FakePvmInstance {
  nlohmann::json create;  // the PVMInstanceCreate body
  std::string id, status, mac, ip, externalIp;
  int pollsLeft = 0;  // GETs still answered BUILD
  std::string fault;  // when ERROR
};

class FakePowerVs {
 public:
  explicit FakePowerVs(const ibmcloud::testing::FakeIam& iam);
  ~FakePowerVs();
  FakePowerVs(const FakePowerVs&) = delete;
  FakePowerVs& operator=(const FakePowerVs&) = delete;

  std::string url() const;  // the PowerVS endpoint and the IAM Identity base URL
  std::string crn() const;  // the CRN calls must carry

  // Scripted failures: the next `times` requests whose "METHOD <path>" key (path below the
  // workspace, e.g. "POST /pvm-instances", "DELETE /pvm-instances/<id>", "GET /services/dhcp",
  // or "GET /v1/apikeys/details") contains `match` answer `status` with PowerVS's error body.
  void failNext(const std::string& match, int status, const std::string& error,
                const std::string& description, int times = 1, const std::string& retryAfter = "");
  // Instances answer BUILD to this many GETs before ACTIVE (default 2).
  void setPollsBeforeActive(int n);
  // The next created instance goes to ERROR (with this fault message) instead of ACTIVE.
  void failNextBuild(const std::string& fault);
  // Instances never leave BUILD.
  void setNeverActive(bool v);
  // The next POST makes the instance but answers 500 (the answer is "lost").
  void loseNextCreateAnswer();
  // The network is a DHCP network ("dynamic": no address in the instance, a lease in the DHCP
  // server after `leaseAfterPolls` DHCP server GETs) instead of a fixed one.
  void setDhcpNetwork(bool dhcp, int leaseAfterPolls = 0);
  // Instances get no address at all (no fixed IP, no lease).
  void setNoAddresses(bool v);
  // While set, listing the instances (GET pvm-instances) answers 503.
  void setListFails(bool v);

  std::vector<PowerVsCall> calls(const std::string& match = "") const;
  std::vector<std::string> problems() const;
  std::map<std::string, FakePvmInstance> instances() const;
  int creates() const;  // POSTs that made an instance
  int deletes() const;  // DELETEs that removed one

 private:
  net::ServerResponse handle(const net::ServerRequest& req);
  net::ServerResponse workspace(const net::ServerRequest& req, const std::string& rest,
                                PowerVsCall& call);
  net::ServerResponse createInstance(const nlohmann::json& body);
  nlohmann::json instanceJson(FakePvmInstance& i, bool countPoll);
  void problem(std::string text);

  const ibmcloud::testing::FakeIam& iam_;
  mutable std::mutex mu_;
  std::unique_ptr<net::HttpServer> server_;
  providers::testing::RequestLog<PowerVsCall> log_;
  providers::testing::FailureScript failures_{providers::testing::FailureScript::Match::kSubstring};
  std::map<std::string, FakePvmInstance> instances_;
  int pollsBeforeActive_ = 2;
  std::optional<std::string> nextBuildFault_;
  bool neverActive_ = false;
  bool loseNextAnswer_ = false;
  bool dhcp_ = false;
  int leaseAfterPolls_ = 0;
  int dhcpPolls_ = 0;
  bool noAddresses_ = false;
  bool listFails_ = false;
  int counter_ = 0;
  int creates_ = 0, deletes_ = 0;
};

}  // namespace pp::providers::powervs::testing
