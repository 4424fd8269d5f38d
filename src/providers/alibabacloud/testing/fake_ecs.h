// Test double for the Alibaba Cloud endpoints the alibabacloud provider calls, in one in-process
// HTTP server: the ECS (2014-05-26) and VPC (2016-04-28) RPC OpenAPIs, STS AssumeRoleWithOIDC
// and the ECS metadata service's RAM-role credentials.
//
// Like the real service, every OpenAPI call must carry a valid ACS3-HMAC-SHA256 signature: the
// fake recomputes it with the secret of the AccessKey named in Credential (a wrong one answers
// SignatureDoesNotMatch), requires every x-acs-* header sent, host, x-acs-action and
// x-acs-version to be signed, x-acs-content-sha256 to be the body's hash, x-acs-date within 15
// minutes and a nonce never seen before, and, for an STS AccessKey, x-acs-security-token. Each
// action must come at its product's version, with its required parameters and the documented
// types (integers, booleans, JSON arrays, base64 user data). Answers have Alibaba's JSON shapes;
// errors are {RequestId, HostId, Code, Message, Recommend}. Problems found in requests are
// recorded (a test expects none); failures can be scripted per action.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "net/http_server.h"
#include "providers/alibabacloud/acs3.h"
#include "providers/cloud_api.h"
#include "providers/testing/fake_cloud.h"

namespace pp::providers::alibabacloud::testing {

struct FakeEcsCall {
  std::string action, version, accessKeyId, securityToken;
  std::map<std::string, std::string> params;
};

struct FakeEcsInstance {
  std::string id, name, status, clientToken, privateIp, publicIp;
  std::map<std::string, std::string> tags;
  std::map<std::string, std::string> params;  // of its RunInstances
  int pollsUntilReady = 0;
};

struct FakeNic {
  std::string id, name, status, instanceId;
  bool deleteOnRelease = false;
};

struct FakeEip {
  std::string id, ip, name, status, boundTo, boundType;
};

class FakeEcs {
 public:
  explicit FakeEcs(std::string region = "cn-beijing");
  ~FakeEcs();
  std::string url() const;

  // An AccessKey the fake accepts; with a token, calls must carry it (STS credentials).
  void addAccessKey(const std::string& id, const std::string& secret,
                    const std::string& token = "");
  void addInstanceType(const std::string& name, int cpus, double memoryGiB, int gpus = 0,
                       const std::string& gpuSpec = "");
  void addVSwitch(const std::string& id, const std::string& vpcId);
  // The next `times` calls of `action` (after their checks) answer this error.
  void failNext(const std::string& action, int status, const std::string& code,
                const std::string& message, int times = 1);
  // A scripted RunInstances failure still makes the instance (the answer was "lost").
  void setCreateOnFailedRun(bool v);
  // New instances show their addresses after this many DescribeInstances calls (default 1).
  void setAddressDelay(int polls);
  // RRSA: AssumeRoleWithOIDC with this role, provider and token issues `issued`.
  void setOidc(const std::string& roleArn, const std::string& providerArn,
               const std::string& oidcToken, const AcsCredentials& issued);
  // The metadata service's RAM role and the credentials it hands out; the next fetch gets
  // `issued` (replace it to see a refresh).
  void setRamRole(const std::string& role, const AcsCredentials& issued);
  // The fake's clock for x-acs-date checks (default: the system clock).
  void setClock(Clock clock);

  std::vector<FakeEcsCall> calls(const std::string& action = "") const;
  size_t count(const std::string& action) const { return calls(action).size(); }
  std::vector<std::string> problems() const;
  std::map<std::string, FakeEcsInstance> instances() const;
  std::map<std::string, FakeNic> nics() const;
  std::map<std::string, FakeEip> eips() const;
  int stsCalls() const;
  int metadataCredentialCalls() const;
  // Secrets it knows (for the log checks): secrets of the keys, tokens.
  std::vector<std::string> secrets() const;

 private:
  net::ServerResponse handle(const net::ServerRequest& req);
  net::ServerResponse openApi(const net::ServerRequest& req);
  net::ServerResponse sts(const net::ServerRequest& req);
  net::ServerResponse metadata(const net::ServerRequest& req);
  net::ServerResponse dispatch(const std::string& action,
                               const std::map<std::string, std::string>& p);
  net::ServerResponse error(int status, const std::string& code, const std::string& message);
  nlohmann::json instanceJson(const FakeEcsInstance& i) const;
  void problem(std::string text);
  std::string requestId();

  struct Key {
    std::string secret, token;
  };

  std::string region_;
  mutable std::mutex mu_;
  std::unique_ptr<net::HttpServer> server_;
  providers::testing::RequestLog<FakeEcsCall> log_;
  providers::testing::FailureScript failures_;
  std::map<std::string, Key> keys_;
  std::map<std::string, nlohmann::json> types_;
  std::map<std::string, std::string> vswitches_;
  std::map<std::string, FakeEcsInstance> instances_;
  std::map<std::string, FakeNic> nics_;
  std::map<std::string, FakeEip> eips_;
  std::set<std::string> nonces_;
  bool createOnFailedRun_ = false;
  int addressDelay_ = 1;
  std::string oidcRole_, oidcProvider_, oidcToken_;
  AcsCredentials oidcIssued_;
  std::string ramRole_;
  AcsCredentials ramIssued_;
  std::set<std::string> mdTokens_;
  int stsCalls_ = 0, mdCalls_ = 0;
  Clock clock_;
  int counter_ = 0;
};

}  // namespace pp::providers::alibabacloud::testing
