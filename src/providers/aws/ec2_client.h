// EC2 Query API client (API version 2016-11-15): form-encoded POSTs signed with SigV4, XML
// answers read strictly. Throttling, 5xx and transport failures are retried with full-jitter
// backoff; mutating calls first take a token from a client-side bucket so that a burst of pod
// creations stays under EC2's request rate limits (upstream's users hit them when many pods start).
#pragma once

#include <atomic>
#include <chrono>
#include <expected>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "net/http_client.h"
#include "providers/aws/aws_error.h"
#include "providers/aws/credentials.h"
#include "providers/aws/xml.h"
#include "providers/cloud_api.h"
#include "providers/instance_type.h"

namespace pp::providers::aws {

inline constexpr char kEc2ApiVersion[] = "2016-11-15";

using QueryParams = std::vector<std::pair<std::string, std::string>>;

struct Ec2ClientOptions {
  std::string endpoint;               // "https://ec2.us-east-1.amazonaws.com"
  std::string region;                 // signing region
  double mutatingCallsPerSecond = 2;  // <= 0: unlimited
  RetryPolicy retry;
  Retrier::Sleep sleep;  // tests replace the waiting
  std::chrono::milliseconds timeout{30000};
  Clock clock;
};

// What we read of an instance.
struct Ec2Instance {
  std::string id;
  std::string state;  // pending, running, shutting-down, terminated, stopping, stopped
  std::string stateReason;
  std::string privateIp;
  std::string publicIp;
  std::map<std::string, std::string> tags;
};

struct Ec2Image {
  std::string id;
  std::string rootDeviceName;
  int64_t rootVolumeGiB = 0;  // of the root device's EBS mapping; 0 when unknown
};

class Ec2Client {
 public:
  Ec2Client(net::HttpClient http, std::shared_ptr<CredentialsProvider> credentials,
            Ec2ClientOptions options);

  // One action with retries. `mutating` calls wait for the rate limiter before each attempt.
  std::expected<XmlElement, AwsError> call(const std::string& action, const QueryParams& params,
                                           bool mutating);

  // RunInstances with the given parameters (Min/MaxCount are added); the one instance.
  Result<Ec2Instance> runInstances(const QueryParams& params);
  // DescribeInstances, following NextToken (at most 50 pages).
  Result<std::vector<Ec2Instance>> describeInstances(const QueryParams& params);
  // TerminateInstances for one id; an instance that does not exist is success.
  Status terminateInstance(const std::string& id);
  // DescribeInstanceTypes for the named types (all pages).
  Result<std::vector<InstanceTypeInfo>> describeInstanceTypes(
      const std::vector<std::string>& types);
  // DescribeImages for one image id.
  Result<Ec2Image> describeImage(const std::string& imageId);

 private:
  std::expected<XmlElement, AwsError> attempt(const std::string& action, const QueryParams& params);

  net::HttpClient http_;
  std::shared_ptr<CredentialsProvider> credentials_;
  Ec2ClientOptions options_;
  std::string hostHeader_;
  std::string path_;
  ApiCallPolicy calls_;
  // Seconds to add to our clock when signing, learned from AWS's answers (clock skew).
  std::atomic<int64_t> skewSeconds_{0};
};

// Reads one <item> of an instancesSet.
Ec2Instance parseInstance(const XmlElement& item);

}  // namespace pp::providers::aws
