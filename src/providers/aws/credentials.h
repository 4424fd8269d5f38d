// Where AWS credentials come from, in the order the AWS SDKs use: static keys (flags), the
// environment, web identity (IRSA: STS AssumeRoleWithWebIdentity with a projected token file),
// the shared credentials/config files with a profile, and the instance role from IMDSv2.
// Temporary credentials are cached and refreshed before they expire. Nothing here logs a
// secret: logs name the source only.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/flags.h"
#include "net/http_client.h"
#include "providers/aws/imds_client.h"
#include "providers/aws/sigv4.h"
#include "providers/cloud_api.h"

namespace pp::providers::aws {

class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  virtual Result<Credentials> retrieve() = 0;
};

// An STS AssumeRoleWithWebIdentity answer (XML) to credentials; `action` starts the errors.
Result<Credentials> parseWebIdentityAnswer(std::string_view body, const std::string& action);

class StaticCredentialsProvider final : public CredentialsProvider {
 public:
  explicit StaticCredentialsProvider(Credentials c) : creds_(std::move(c)) {}
  Result<Credentials> retrieve() override { return creds_; }

 private:
  Credentials creds_;
};

// STS AssumeRoleWithWebIdentity (an unsigned call); the token file is read at every refresh,
// since Kubernetes rotates projected tokens.
class WebIdentityCredentialsProvider final : public CredentialsProvider {
 public:
  struct Options {
    std::string stsEndpoint;  // "https://sts.us-east-1.amazonaws.com"
    std::string roleArn;
    std::string tokenFile;
    std::string sessionName;  // empty: "peerpods-<time>"
  };
  WebIdentityCredentialsProvider(net::HttpClient http, Options options, Clock clock);
  Result<Credentials> retrieve() override;

 private:
  net::HttpClient http_;
  Options options_;
  Clock clock_;
};

// The instance profile's role credentials from IMDSv2.
class ImdsCredentialsProvider final : public CredentialsProvider {
 public:
  explicit ImdsCredentialsProvider(std::shared_ptr<ImdsClient> imds) : imds_(std::move(imds)) {}
  Result<Credentials> retrieve() override;

 private:
  std::shared_ptr<ImdsClient> imds_;
};

// Keeps the last credentials and asks `inner` again `refreshBefore` ahead of their expiry. When
// a refresh fails while the old credentials are still valid, they are used (and the failure
// logged); once expired, the error is returned. Thread-safe.
class CachingCredentialsProvider final : public CredentialsProvider {
 public:
  CachingCredentialsProvider(std::shared_ptr<CredentialsProvider> inner, Clock clock,
                             std::chrono::seconds refreshBefore = std::chrono::minutes(5));
  Result<Credentials> retrieve() override;

 private:
  std::shared_ptr<CredentialsProvider> inner_;
  Clock clock_;
  std::chrono::seconds refreshBefore_;
  std::mutex mu_;
  std::optional<Credentials> cached_;
};

// Tries the sources in order; the first that yields credentials is used from then on.
class ChainCredentialsProvider final : public CredentialsProvider {
 public:
  using Source =
      std::pair<std::string, std::function<Result<std::shared_ptr<CredentialsProvider>>()>>;
  explicit ChainCredentialsProvider(std::vector<Source> sources) : sources_(std::move(sources)) {}
  Result<Credentials> retrieve() override;

 private:
  std::vector<Source> sources_;
  std::mutex mu_;
  std::shared_ptr<CredentialsProvider> chosen_;
};

struct CredentialsInputs {
  std::string accessKeyId, secretAccessKey, sessionToken;  // -aws-access-key-id etc.
  std::string profile;                                     // resolved profile name
  std::string stsEndpoint;                                 // for web identity
  flags::EnvLookup env;
  net::HttpClient http;
  std::shared_ptr<ImdsClient> imds;
  Clock clock;
};

// The default chain described at the top of this file, wrapped in the cache.
std::shared_ptr<CredentialsProvider> makeDefaultCredentials(const CredentialsInputs& in);

}  // namespace pp::providers::aws
