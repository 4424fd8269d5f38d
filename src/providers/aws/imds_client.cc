// IMDSv2 client (see imds_client.h).
#include "providers/aws/imds_client.h"

#include <cctype>

namespace pp::providers::aws {
namespace {

constexpr int kTokenTtlSeconds = 21600;

bool isTrue(const std::optional<std::string>& v) {
  if (!v) return false;
  std::string s = *v;
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s == "true";
}

}  // namespace

ImdsClient::ImdsClient(net::HttpClient http, const flags::EnvLookup& env) : http_(std::move(http)) {
  disabled_ = isTrue(env("AWS_EC2_METADATA_DISABLED"));
  if (auto e = env("AWS_EC2_METADATA_SERVICE_ENDPOINT"); e && !e->empty()) {
    endpoint_ = *e;
  } else if (auto mode = env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
             mode && (*mode == "IPv6" || *mode == "ipv6")) {
    endpoint_ = "http://[fd00:ec2::254]";
  } else {
    endpoint_ = "http://169.254.169.254";
  }
  while (!endpoint_.empty() && endpoint_.back() == '/') endpoint_.pop_back();
}

Result<std::string> ImdsClient::token(bool renew) {
  std::lock_guard lock(mu_);
  auto now = std::chrono::steady_clock::now();
  if (!renew && !token_.empty() && now < tokenExpiry_) return token_;
  net::HttpRequest req;
  req.method = "PUT";
  req.url = endpoint_ + "/latest/api/token";
  req.headers = {{"X-aws-ec2-metadata-token-ttl-seconds", std::to_string(kTokenTtlSeconds)}};
  req.timeout = timeout_;
  req.maxResponseBytes = 4096;
  auto r = http_.send(req);
  if (!r) return fail(r.error().wrap("instance metadata service at " + endpoint_));
  if (r->status != 200 || r->body.empty()) {
    return fail(Code::kUnavailable, "instance metadata service at " + endpoint_ +
                                        ": token request answered HTTP " +
                                        std::to_string(r->status));
  }
  token_ = r->body;
  // Renew a minute before the service would stop accepting it.
  tokenExpiry_ = now + std::chrono::seconds(kTokenTtlSeconds - 60);
  return token_;
}

Result<std::string> ImdsClient::get(const std::string& path) {
  if (disabled_)
    return fail(Code::kFailedPrecondition,
                "instance metadata service disabled by AWS_EC2_METADATA_DISABLED");
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto t = token(attempt > 0);
    if (!t) return fail(t.error());
    net::HttpRequest req;
    req.url = endpoint_ + "/latest/" + path;
    req.headers = {{"X-aws-ec2-metadata-token", *t}};
    req.timeout = timeout_;
    req.maxResponseBytes = 64 << 10;
    auto r = http_.send(req);
    if (!r) return fail(r.error().wrap("instance metadata " + path));
    if (r->status == 401) continue;  // token expired or revoked: renew once
    if (r->status == 404) return fail(Code::kNotFound, "instance metadata " + path + " not found");
    if (r->status != 200) {
      return fail(Code::kUnavailable,
                  "instance metadata " + path + ": HTTP " + std::to_string(r->status));
    }
    return r->body;
  }
  return fail(Code::kUnauthenticated,
              "instance metadata " + path + ": the service rejected a fresh token");
}

}  // namespace pp::providers::aws
