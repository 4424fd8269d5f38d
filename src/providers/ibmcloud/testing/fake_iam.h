// Test double for IBM Cloud IAM's token endpoint (POST /identity/token), on its own HTTP
// server at 127.0.0.1:<free port>. It takes the two grants the providers use, checked as IAM
// checks them: the API-key grant (grant_type=urn:ibm:params:oauth:grant-type:apikey, apikey)
// and the compute-resource token grant (urn:ibm:params:oauth:grant-type:cr-token, cr_token
// and profile_id or profile_name). The body must be a well-formed application/x-www-form-
// urlencoded form; an unknown key, profile or CR token gets IAM's 400 error body
// ({errorCode, errorMessage, context}). Issued access tokens are JWT-shaped (IBM's SDKs read
// the exp/iat claims) and valid for the configured lifetime; API fakes check the Authorization
// header of each call with valid(). What a client got wrong (encoding, content type, method,
// path) is recorded as a problem; tests expect none.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "net/http_server.h"
#include "providers/cloud_api.h"
#include "providers/testing/fake_cloud.h"

namespace pp::providers::ibmcloud::testing {

struct IamCall {
  std::string method, path;
  std::string contentType, accept;
  std::map<std::string, std::string> form;  // decoded; secrets included (tests only)
  int status = 0;                           // what the fake answered
};

class FakeIam {
 public:
  // The API key the fake accepts at first.
  static constexpr char kDefaultApiKey[] = "fake-ibm-api-key";

  FakeIam();
  ~FakeIam();
  FakeIam(const FakeIam&) = delete;
  FakeIam& operator=(const FakeIam&) = delete;

  std::string baseUrl() const;   // "http://127.0.0.1:PORT" (what IBM's SDKs call the IAM URL)
  std::string tokenUrl() const;  // baseUrl() + "/identity/token" (upstream's flag form)

  // Accepted credentials: the API key, and trusted profiles with the CR token each accepts
  // (several may be accepted at once, as after a rotation).
  void setApiKey(std::string key);
  void addTrustedProfile(const std::string& profileId, const std::string& crToken);
  // Lifetime of the tokens issued from now on (default 3600 s).
  void setTokenLifetime(int64_t seconds);
  // The fake's idea of now (default: the system clock), for issuing and checking tokens.
  void setClock(Clock clock);
  // Every token issued so far stops being valid (as after a key is revoked).
  void revokeAll();

  // Whether `authorizationHeader` is "Bearer <token>" with a token this fake issued that has
  // not expired and was not revoked.
  bool valid(const std::string& authorizationHeader) const;

  // Token requests so far, the problems found in them, and scripted failures: the next N
  // requests whose key "POST /identity/token <grant_type>" contains the pattern get an IAM
  // error answer (status, errorCode, errorMessage, Retry-After).
  providers::testing::RequestLog<IamCall>& log() { return log_; }
  providers::testing::FailureScript& failures() { return failures_; }
  std::vector<IamCall> calls() const { return log_.all(); }
  std::vector<std::string> problems() const { return log_.problems(); }
  int tokensIssued() const;

 private:
  net::ServerResponse handle(const net::ServerRequest& req);
  std::chrono::system_clock::time_point now() const;

  mutable std::mutex mu_;
  std::string apiKey_ = kDefaultApiKey;
  std::map<std::string, std::set<std::string>> profiles_;  // profile id -> accepted CR tokens
  int64_t lifetime_ = 3600;
  Clock clock_;
  std::map<std::string, std::chrono::system_clock::time_point> tokens_;  // token -> expiry
  providers::testing::RequestLog<IamCall> log_;
  providers::testing::FailureScript failures_{providers::testing::FailureScript::Match::kSubstring};
  std::unique_ptr<net::HttpServer> server_;
};

}  // namespace pp::providers::ibmcloud::testing
