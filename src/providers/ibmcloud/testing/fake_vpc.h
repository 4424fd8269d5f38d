// Test double for the IBM Cloud VPC API (/v1: instances, instance profiles, images, subnets,
// VPC default security groups) and the Global Tagging API (/v3/tags) in one in-process HTTP
// server. Every call must carry a bearer token the fake IAM issued and has not expired
// (FakeIam::valid); every VPC call the `version` query parameter (a YYYY-MM-DD date) and
// `generation=2`. POST /v1/instances checks the prototype's required fields and JSON types and
// that the image, profile, subnet, security groups and keys exist; instances get a CRN, and
// their NICs get addresses only after some GETs (setIpDelay). Tags are attached by CRN. Errors
// use IBM's body ({"errors": [{"code", "message", "more_info"}], "trace"}). What a client got
// wrong is recorded as a problem; tests expect none. Failures can be scripted per call.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "net/http_server.h"
#include "providers/ibmcloud/testing/fake_iam.h"
#include "providers/testing/fake_cloud.h"

namespace pp::providers::ibmcloud::testing {

struct VpcCall {
  std::string method, path, query;
  nlohmann::json body;  // null when empty
  std::string authorization;
  int status = 0;
};

struct FakeVpcInstance {
  nlohmann::json prototype;  // as posted
  std::string id, crn, name;
  std::vector<std::string> ips;  // per NIC, primary first
  int getsUntilIps = 0;          // GETs still answering 0.0.0.0
};

class FakeVpc {
 public:
  FakeVpc(const FakeIam& iam, std::string zone = "jp-tok-1", std::string vpcId = "r022-vpc-1");
  ~FakeVpc();
  FakeVpc(const FakeVpc&) = delete;
  FakeVpc& operator=(const FakeVpc&) = delete;

  std::string baseUrl() const;
  std::string vpcUrl() const { return baseUrl() + "/v1"; }
  std::string taggingUrl() const { return baseUrl(); }
  const std::string& zone() const { return zone_; }
  const std::string& vpcId() const { return vpcId_; }

  void addProfile(const std::string& name, int vcpus, int memoryGiB,
                  const std::string& arch = "amd64");
  void addImage(const std::string& id, const std::string& arch = "amd64");
  void addSubnet(const std::string& id, const std::string& resourceGroup = "rg-1");
  void addSecurityGroup(const std::string& id, bool isDefault = false);
  void addKey(const std::string& id);
  // An instance made by someone else (or an earlier run), with these user tags.
  std::string addInstance(const std::string& name, const std::vector<std::string>& tags);

  // New instances' NICs answer 0.0.0.0 for this many GETs (default 1; -1: forever).
  void setIpDelay(int gets);
  // List pages hold at most this many instances (default 100, the API's maximum).
  void setPageSize(int n);
  // The next `times` creates make the instance but answer this error (a lost answer).
  void failCreateAfterApplying(int status, int times = 1);
  // The next tag attach answers 200 with is_error for the resource.
  void failNextAttachInResult();

  // Scripted failures: the next `times` calls whose "METHOD path" contains `match` get this
  // status with IBM's error body (and Retry-After when given).
  providers::testing::FailureScript& failures() { return failures_; }
  std::vector<VpcCall> calls(const std::string& match = "") const;
  std::vector<std::string> problems() const { return log_.problems(); }
  std::map<std::string, FakeVpcInstance> instances() const;
  std::vector<std::string> tagsOf(const std::string& crn) const;
  int createsApplied() const;  // instances ever made by POST /v1/instances
  int deletesApplied() const;  // instances removed by DELETE

 private:
  net::ServerResponse handle(const net::ServerRequest& req);
  net::ServerResponse vpc(const net::ServerRequest& req, const nlohmann::json& body);
  net::ServerResponse tagging(const net::ServerRequest& req, const nlohmann::json& body);
  net::ServerResponse createInstance(const nlohmann::json& body);
  nlohmann::json instanceJson(FakeVpcInstance& i, bool countGet);

  const FakeIam& iam_;
  std::string zone_, vpcId_;
  mutable std::mutex mu_;
  std::map<std::string, nlohmann::json> profiles_, images_;
  std::map<std::string, std::string> subnets_;  // id -> resource group
  std::set<std::string> securityGroups_, keys_;
  std::string defaultSg_;
  std::map<std::string, FakeVpcInstance> instances_;
  std::map<std::string, std::vector<std::string>> tags_;  // crn -> tags
  int ipDelay_ = 1;
  int pageSize_ = 100;
  int applyThenFail_ = 0, applyThenFailStatus_ = 503;
  bool attachResultError_ = false;
  int created_ = 0, deleted_ = 0, nextId_ = 1;
  providers::testing::RequestLog<VpcCall> log_;
  providers::testing::FailureScript failures_{providers::testing::FailureScript::Match::kSubstring};
  std::unique_ptr<net::HttpServer> server_;
};

}  // namespace pp::providers::ibmcloud::testing
