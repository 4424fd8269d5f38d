// Test double for Google's OAuth2 token endpoint, the GCE metadata server, the Compute Engine
// v1 API and Resource Manager's tagValues.getNamespaced, in one in-process HTTP server. The
// token endpoint verifies each JWT assertion (RS256 signature with the key's public half,
// header and claims) before it issues a token; every API call must carry an issued token. The
// instance calls check method, path, requestId and the insert body against the documented
// Instance schema, and answer with documented resources and zone operations. Failures can be
// scripted per call.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "net/http_server.h"
#include "providers/testing/fake_cloud.h"

namespace pp::providers::gcp::testing {

// A throwaway RSA key and the service-account key JSON around it.
struct TestKey {
  std::string privatePem, publicPem;
  std::string json(const std::string& tokenUri,
                   const std::string& email = "pods@proj-1.iam.gserviceaccount.com") const;
};
TestKey makeTestKey();

struct FakeCall {
  std::string method, path, query;
  nlohmann::json body;  // null when empty
  std::string authorization;
};

struct FakeGcpInstance {
  nlohmann::json body;  // the insert body
  std::string networkIp, natIp;
  std::string id;
};

class FakeGcp {
 public:
  FakeGcp(std::string project, std::string zone, std::string publicKeyPem);
  ~FakeGcp();
  std::string url() const;
  std::string computeEndpoint() const { return url() + "/compute/v1"; }
  std::string tokenUri() const { return url() + "/token"; }
  std::string crmEndpoint() const { return url() + "/v3"; }
  std::string metadataHost() const;  // "127.0.0.1:PORT"

  // Scripted failures: the next `times` calls whose "METHOD path-suffix" key contains `match`
  // get this HTTP status with a Google error body ({error: {code, message, errors[{reason}],
  // status}}).
  void failNext(const std::string& match, int status, const std::string& reason,
                const std::string& message, int times = 1, const std::string& retryAfter = "");
  // The next insert's operation ends DONE with this error, and no instance is created (or, with
  // createAnyway, the instance is created all the same).
  void failNextInsertOperation(const std::string& code, const std::string& message, int httpStatus,
                               bool createAnyway = false);
  // zoneOperations.wait answers RUNNING this many times before DONE.
  void setWaitsBeforeDone(int n) { waitsBeforeDone_ = n; }
  void addMachineType(const std::string& name, int cpus, int memoryMb, int gpus = 0);
  void addTag(const std::string& key, const std::string& value, const std::string& keyId,
              const std::string& valueId);
  void addInstance(const std::string& name, const nlohmann::json& labels);
  void setImageSize(int64_t gb) { imageSizeGb_ = gb; }
  // Instances answer without any address.
  void setNoAddresses(bool v) { noAddresses_ = v; }

  std::vector<FakeCall> calls(const std::string& match = "") const;
  std::vector<std::string> problems() const;
  std::map<std::string, FakeGcpInstance> instances() const;
  std::vector<std::string> issuedTokens() const;
  std::vector<nlohmann::json> jwtClaims() const;  // of each accepted assertion
  std::vector<std::string> assertions() const;

 private:
  net::ServerResponse handle(const net::ServerRequest& req);
  net::ServerResponse token(const net::ServerRequest& req);
  net::ServerResponse metadataToken(const net::ServerRequest& req);
  net::ServerResponse compute(const net::ServerRequest& req, const std::string& rest);
  net::ServerResponse checkInsert(const nlohmann::json& body);
  net::ServerResponse operation(const std::string& target, const std::string& type, bool done);
  void problem(std::string text);

  struct OpError {
    std::string code, message;
    int httpStatus;
    bool createAnyway;
  };

  std::string project_, zone_, publicKeyPem_;
  mutable std::mutex mu_;
  std::unique_ptr<net::HttpServer> server_;
  providers::testing::RequestLog<FakeCall> log_;
  providers::testing::FailureScript failures_{providers::testing::FailureScript::Match::kSubstring};
  std::optional<OpError> nextOpError_;
  std::map<std::string, FakeGcpInstance> instances_;
  std::map<std::string, nlohmann::json> machineTypes_;
  std::map<std::string, std::pair<std::string, std::string>> tags_;  // "p/k/v" -> (valueId, keyId)
  std::map<std::string, nlohmann::json> operations_;                 // name -> DONE resource
  std::map<std::string, int> opWaits_;
  std::vector<std::string> tokens_, assertions_;
  std::vector<nlohmann::json> claims_;
  int waitsBeforeDone_ = 0;
  int64_t imageSizeGb_ = 10;
  bool noAddresses_ = false;
  int counter_ = 0;
};

}  // namespace pp::providers::gcp::testing
