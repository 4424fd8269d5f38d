// Test double for EC2, STS and IMDS in one in-process HTTP server. It checks every EC2 request
// the way the service does (SigV4 signature over the signed headers and body, known access key,
// matching session token, region/service scope, Action and Version) and answers with the
// documented XML of testdata/; STS answers AssumeRoleWithWebIdentity, and /latest/... plays
// IMDSv2 (token required). Failures can be scripted per action.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "net/http_server.h"
#include "providers/testing/fake_cloud.h"

namespace pp::providers::aws::testing {

struct RecordedCall {
  std::string action;
  std::vector<std::pair<std::string, std::string>> params;  // without Action and Version
  std::string accessKey;
  std::string param(const std::string& name) const;
  bool has(const std::string& name) const;
};

struct FakeInstance {
  std::string id, imageId, type, state = "pending", privateIp, publicIp, clientToken;
  std::map<std::string, std::string> tags;
  int describes = 0;
};

struct FakeNic {
  std::string id, status = "pending", instanceId, attachmentId;
  bool deleteOnTermination = false;
  int describes = 0;
};

struct FakeAddress {
  std::string allocationId, publicIp, associationId, nicId;
};

class FakeAws {
 public:
  FakeAws();
  ~FakeAws();
  std::string url() const { return server_->baseUrl(); }

  // Credentials the fake EC2 accepts (access key -> secret, session token).
  void acceptCredentials(const std::string& key, const std::string& secret,
                         const std::string& token = "");
  // The next `times` calls of `action` fail with this HTTP status and AWS error.
  void failNext(const std::string& action, int status, const std::string& code,
                const std::string& message, int times = 1);

  std::vector<RecordedCall> calls(const std::string& action = "") const;
  std::vector<std::string> problems()
      const;  // requests the fake refused as malformed or badly signed
  std::map<std::string, FakeInstance> instances() const;
  std::map<std::string, FakeNic> nics() const;
  std::map<std::string, FakeAddress> addresses() const;

  // EC2 behaviour.
  std::string region = "us-east-1";
  std::atomic<int> describesUntilAddress{1};  // DescribeInstances calls before the IPs appear
  std::atomic<bool> runReportsPrivateIp{false};
  std::atomic<bool> instanceDiesOnBoot{false};  // goes to "terminated" instead of "running"
  int rootVolumeGiB = 8;
  std::atomic<int> pageSize{0};
  std::atomic<int> loseRunAnswers{0};
  std::atomic<int64_t> clockOffsetSeconds{
      0};  // the fake's clock runs this far from ours  // RunInstances starts the instance, then
           // answers 500  // DescribeInstances with filters: items per page (0: MaxResults)
  // STS behaviour.
  std::string stsRoleArn = "arn:aws:iam::123456789012:role/peerpods";
  std::string stsExpectedToken = "web-identity-token";
  std::chrono::seconds stsLifetime{3600};
  std::atomic<int> stsIssued{0};
  // IMDS behaviour: paths below /latest/ and their bodies.
  std::map<std::string, std::string> imds;
  std::atomic<int> imdsTokens{0};
  std::atomic<int> imdsRejectTokens{0};  // the next N GETs answer 401 (token expired)
  std::chrono::seconds imdsRoleLifetime{3600};
  std::atomic<int> imdsRoleIssued{0};

 private:
  net::ServerResponse handle(const net::ServerRequest& r);
  net::ServerResponse ec2(const net::ServerRequest& r,
                          std::vector<std::pair<std::string, std::string>> params);
  net::ServerResponse networkAction(const RecordedCall& call);
  net::ServerResponse sts(const std::vector<std::pair<std::string, std::string>>& params);
  net::ServerResponse imdsAnswer(const net::ServerRequest& r);
  std::string checkSignature(const net::ServerRequest& r, std::string* accessKey);

  mutable std::mutex mu_;
  std::map<std::string, std::pair<std::string, std::string>> creds_;
  providers::testing::FailureScript failures_;
  providers::testing::RequestLog<RecordedCall> log_;
  std::map<std::string, FakeInstance> instances_;
  int nextInstance_ = 0;
  std::string lastId_;
  std::map<std::string, FakeNic> nics_;
  std::map<std::string, FakeAddress> addresses_;
  int nextResource_ = 0;
  std::unique_ptr<net::HttpServer> server_;
};

// testdata/<name> with {{KEY}} placeholders replaced.
std::string renderTemplate(const std::string& name,
                           const std::map<std::string, std::string>& values);

}  // namespace pp::providers::aws::testing
