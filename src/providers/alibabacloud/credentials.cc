// The credentials chain (see credentials.h).
#include "providers/alibabacloud/credentials.h"

#include <nlohmann/json.hpp>

#include "base/files.h"
#include "base/json_fields.h"
#include "base/log.h"
#include "base/strings.h"

namespace pp::providers::alibabacloud {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
constexpr const char* kLog = "alibabacloud";
constexpr size_t kMaxAnswer = 64 << 10;

std::string trimmedSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

std::string shortDetail(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  std::string d;
  if (j.is_object()) {
    d = jsonf::stringField(j, "Code");
    if (auto m = jsonf::stringField(j, "Message"); !m.empty()) d += ": " + m;
  }
  if (d.empty()) d = body.substr(0, 200);
  if (d.size() > 300) d.resize(300);
  return d;
}

// Reads {AccessKeyId, AccessKeySecret, SecurityToken, Expiration} (STS's Credentials object and
// the metadata service's answer share the names).
Result<AcsCredentials> readTemporary(const json& j, const std::string& where) {
  AcsCredentials c;
  c.accessKeyId = jsonf::stringField(j, "AccessKeyId");
  c.accessKeySecret = jsonf::stringField(j, "AccessKeySecret");
  c.securityToken = jsonf::stringField(j, "SecurityToken");
  auto exp = utc::parseRfc3339(jsonf::stringField(j, "Expiration"), kAcsTimeForm);
  if (c.accessKeyId.empty() || c.accessKeySecret.empty() || c.securityToken.empty() || !exp)
    return fail(Code::kInternal, where +
                                     ": the answer lacks AccessKeyId, AccessKeySecret, "
                                     "SecurityToken or a valid Expiration");
  if (c.accessKeyId.size() > 256 || c.accessKeySecret.size() > 256 ||
      c.securityToken.size() > 16384)
    return fail(Code::kInternal, where + ": credentials of implausible size");
  c.expiry = *exp;
  return c;
}

}  // namespace

Result<AcsCredentials> readTemporaryCredentials(const json& answer, const std::string& where) {
  return readTemporary(answer, where);
}

namespace {

class StaticSource final : public CredentialSource {
 public:
  StaticSource(AcsCredentials c, std::string origin)
      : c_(std::move(c)), origin_(std::move(origin)) {}
  Result<AcsCredentials> fetch(std::chrono::system_clock::time_point) override { return c_; }
  std::string describe() const override {
    return "AccessKey " + c_.accessKeyId.substr(0, 4) + "... (" + origin_ + ")";
  }

 private:
  AcsCredentials c_;
  std::string origin_;
};

class OidcSource final : public CredentialSource {
 public:
  OidcSource(net::HttpClient http, std::string endpoint, std::string roleArn,
             std::string providerArn, std::string tokenFile, std::string sessionName)
      : http_(std::move(http)),
        endpoint_(trimmedSlash(std::move(endpoint))),
        roleArn_(std::move(roleArn)),
        providerArn_(std::move(providerArn)),
        tokenFile_(std::move(tokenFile)),
        sessionName_(std::move(sessionName)) {}

  Result<AcsCredentials> fetch(std::chrono::system_clock::time_point now) override {
    // The projected service-account token rotates: read it for every exchange.
    auto token = files::readFile(tokenFile_, kMaxAnswer);
    if (!token) return fail(token.error().wrap("reading ALIBABA_CLOUD_OIDC_TOKEN_FILE"));
    std::string oidc(strings::trim(*token));
    if (oidc.empty())
      return fail(Code::kUnauthenticated,
                  "ALIBABA_CLOUD_OIDC_TOKEN_FILE " + tokenFile_ + " is empty");
    net::HttpRequest req;
    req.method = "POST";
    req.url = endpoint_ + "/?Action=AssumeRoleWithOIDC&Format=JSON&Version=2015-04-01&Timestamp=" +
              acsEncode(utc::format(now));
    req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                   {"Accept", "application/json"}};
    req.body = "OIDCProviderArn=" + acsEncode(providerArn_) + "&OIDCToken=" + acsEncode(oidc) +
               "&RoleArn=" + acsEncode(roleArn_) + "&RoleSessionName=" + acsEncode(sessionName_) +
               "&DurationSeconds=3600";
    req.timeout = 15s;
    req.maxResponseBytes = kMaxAnswer;
    auto r = http_.send(req);
    if (!r) return fail(r.error().wrap("STS AssumeRoleWithOIDC at " + endpoint_));
    if (!r->ok()) {
      Code code =
          r->status >= 500 || r->status == 429 ? Code::kUnavailable : Code::kUnauthenticated;
      return fail(code, "STS AssumeRoleWithOIDC at " + endpoint_ + " for " + roleArn_ + ": HTTP " +
                            std::to_string(r->status) + " " + shortDetail(r->body));
    }
    json j = json::parse(r->body, nullptr, false);
    if (!j.is_object() || !j.contains("Credentials") || !j["Credentials"].is_object())
      return fail(Code::kInternal, "STS AssumeRoleWithOIDC: the answer has no Credentials object");
    return readTemporary(j["Credentials"], "STS AssumeRoleWithOIDC");
  }
  std::string describe() const override {
    return "RRSA role " + roleArn_ + " (STS " + endpoint_ + ")";
  }

 private:
  net::HttpClient http_;
  std::string endpoint_, roleArn_, providerArn_, tokenFile_, sessionName_;
};

class EcsRamRoleSource final : public CredentialSource {
 public:
  EcsRamRoleSource(net::HttpClient http, std::string endpoint, std::string role, bool v1Allowed)
      : http_(std::move(http)),
        endpoint_(trimmedSlash(std::move(endpoint))),
        role_(std::move(role)),
        v1Allowed_(v1Allowed) {}

  Result<AcsCredentials> fetch(std::chrono::system_clock::time_point) override {
    // IMDSv2: a session token first; without one (old metadata service) v1 as the SDKs do.
    std::string mdToken;
    {
      net::HttpRequest req;
      req.method = "PUT";
      req.url = endpoint_ + "/latest/api/token";
      req.headers = {{"X-aliyun-ecs-metadata-token-ttl-seconds", "21600"}};
      req.timeout = 5s;
      req.maxResponseBytes = 4096;
      auto r = http_.send(req);
      if (r && r->ok()) mdToken = std::string(strings::trim(r->body));
      if (mdToken.empty() && !v1Allowed_)
        return fail(Code::kUnavailable, "ECS metadata service " + endpoint_ +
                                            ": no IMDSv2 token, and IMDSv1 is disabled");
    }
    auto get = [&](const std::string& path) -> Result<std::string> {
      net::HttpRequest req;
      req.url = endpoint_ + path;
      if (!mdToken.empty()) req.headers = {{"X-aliyun-ecs-metadata-token", mdToken}};
      req.timeout = 5s;
      req.maxResponseBytes = kMaxAnswer;
      auto r = http_.send(req);
      if (!r)
        return fail(r.error().wrap(
            "no Alibaba Cloud credentials: ALIBABACLOUD_ACCESS_KEY_ID/SECRET, "
            "ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET and RRSA (ALIBABA_CLOUD_ROLE_ARN...) are not set, "
            "and the ECS metadata service " +
            endpoint_ + " did not answer"));
      if (!r->ok())
        return fail(
            r->status == 404 ? Code::kNotFound : Code::kUnavailable,
            "ECS metadata service " + endpoint_ + path + ": HTTP " + std::to_string(r->status));
      return r->body;
    };
    std::string role = role_;
    if (role.empty()) {
      auto name = get("/latest/meta-data/ram/security-credentials/");
      if (!name) return fail(name.error().wrap("looking up the node's RAM role"));
      role = std::string(strings::trim(*name));
      if (auto nl = role.find('\n'); nl != std::string::npos) role.resize(nl);
      if (role.empty() || role.size() > 128 || role.find('/') != std::string::npos)
        return fail(
            Code::kFailedPrecondition,
            "the ECS instance has no RAM role attached (metadata service answered no role)");
    }
    auto body = get("/latest/meta-data/ram/security-credentials/" + role);
    if (!body) return fail(body.error().wrap("ECS RAM role " + role));
    json j = json::parse(*body, nullptr, false);
    if (!j.is_object()) return fail(Code::kInternal, "ECS RAM role " + role + ": not JSON");
    if (auto c = jsonf::stringField(j, "Code"); c != "Success")
      return fail(Code::kUnavailable,
                  "ECS RAM role " + role + ": Code is \"" + c.substr(0, 40) + "\"");
    {
      std::lock_guard l(mu_);
      resolvedRole_ = role;
    }
    return readTemporary(j, "ECS RAM role " + role);
  }
  std::string describe() const override {
    std::lock_guard l(mu_);
    std::string r = role_.empty() ? resolvedRole_ : role_;
    return "ECS RAM role " + (r.empty() ? std::string("(looked up)") : r) + " (" + endpoint_ + ")";
  }

 private:
  net::HttpClient http_;
  std::string endpoint_, role_;
  bool v1Allowed_;
  mutable std::mutex mu_;
  std::string resolvedRole_;
};

}  // namespace

CredentialCache::CredentialCache(std::unique_ptr<CredentialSource> source, Clock clock)
    : source_(std::move(source)), clock_(clock ? std::move(clock) : systemClock()) {}

Result<AcsCredentials> CredentialCache::get() {
  std::lock_guard l(mu_);
  auto now = clock_();
  if (have_ && (!cached_.expiry || now < refreshAt_)) return cached_;
  auto c = source_->fetch(now);
  if (!c) {
    // A failed refresh keeps using credentials that are still valid.
    if (have_ && cached_.expiry && now < *cached_.expiry - 1min) {
      log::warn(kLog, "refreshing credentials from {} failed, using the current ones: {}",
                source_->describe(), c.error().message);
      return cached_;
    }
    return fail(c.error());
  }
  cached_ = *c;
  have_ = true;
  if (cached_.expiry) {
    auto life = *cached_.expiry - now;
    auto margin = std::min<std::chrono::system_clock::duration>(15min, life / 2);
    refreshAt_ = *cached_.expiry - margin;
    log::info(kLog, "credentials from {}, valid until {}", source_->describe(),
              utc::format(*cached_.expiry));
  }
  return cached_;
}

void CredentialCache::invalidate() {
  std::lock_guard l(mu_);
  if (cached_.expiry) have_ = false;
}

Result<std::shared_ptr<CredentialCache>> makeCredentials(const CredentialInputs& in) {
  auto env = in.env ? in.env : flags::processEnv();
  auto var = [&](const char* name) { return env(name).value_or(""); };
  auto make = [&](std::unique_ptr<CredentialSource> s) {
    log::info(kLog, "credentials: {}", s->describe());
    return std::make_shared<CredentialCache>(std::move(s), in.clock);
  };
  if (!in.accessKeyId.empty() || !in.accessKeySecret.empty()) {
    if (in.accessKeyId.empty() || in.accessKeySecret.empty())
      return fail(
          Code::kInvalidArgument,
          "alibabacloud: set both -alibabacloud-access-key-id (ALIBABACLOUD_ACCESS_KEY_ID) "
          "and -alibabacloud-secret-access-key (ALIBABACLOUD_ACCESS_KEY_SECRET), or neither");
    return make(std::make_unique<StaticSource>(
        AcsCredentials{in.accessKeyId, in.accessKeySecret, in.securityToken, std::nullopt},
        "ALIBABACLOUD_ACCESS_KEY_ID"));
  }
  if (auto ak = var("ALIBABA_CLOUD_ACCESS_KEY_ID"); !ak.empty()) {
    auto sk = var("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
    if (sk.empty())
      return fail(Code::kInvalidArgument,
                  "ALIBABA_CLOUD_ACCESS_KEY_ID is set but ALIBABA_CLOUD_ACCESS_KEY_SECRET is not");
    return make(std::make_unique<StaticSource>(
        AcsCredentials{ak, sk, var("ALIBABA_CLOUD_SECURITY_TOKEN"), std::nullopt},
        "ALIBABA_CLOUD_ACCESS_KEY_ID"));
  }
  auto roleArn = var("ALIBABA_CLOUD_ROLE_ARN");
  auto providerArn = var("ALIBABA_CLOUD_OIDC_PROVIDER_ARN");
  auto tokenFile = var("ALIBABA_CLOUD_OIDC_TOKEN_FILE");
  if (!roleArn.empty() || !providerArn.empty() || !tokenFile.empty()) {
    if (roleArn.empty() || providerArn.empty() || tokenFile.empty())
      return fail(Code::kInvalidArgument,
                  "RRSA needs ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN and "
                  "ALIBABA_CLOUD_OIDC_TOKEN_FILE; one of them is not set");
    std::string endpoint = in.stsEndpoint;
    if (endpoint.empty()) {
      auto region = var("ALIBABA_CLOUD_STS_REGION");
      bool vpc = strings::toLower(var("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED")) == "true";
      endpoint = region.empty()
                     ? std::string(kDefaultStsEndpoint)
                     : "https://sts" + std::string(vpc ? "-vpc." : ".") + region + ".aliyuncs.com";
    }
    auto session = var("ALIBABA_CLOUD_ROLE_SESSION_NAME");
    if (session.empty()) session = "peerpods-cloud-api-adaptor";
    return make(
        std::make_unique<OidcSource>(in.http, endpoint, roleArn, providerArn, tokenFile, session));
  }
  if (strings::toLower(var("ALIBABA_CLOUD_ECS_METADATA_DISABLED")) == "true")
    return fail(Code::kInvalidArgument,
                "no Alibaba Cloud credentials: set ALIBABACLOUD_ACCESS_KEY_ID and "
                "ALIBABACLOUD_ACCESS_KEY_SECRET, or RRSA (ALIBABA_CLOUD_ROLE_ARN, "
                "ALIBABA_CLOUD_OIDC_PROVIDER_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE); the ECS RAM role "
                "is off (ALIBABA_CLOUD_ECS_METADATA_DISABLED)");
  bool v1 = strings::toLower(var("ALIBABA_CLOUD_IMDSV1_DISABLED")) != "true";
  return make(std::make_unique<EcsRamRoleSource>(
      in.http, in.metadataEndpoint.empty() ? kDefaultMetadataEndpoint : in.metadataEndpoint,
      var("ALIBABA_CLOUD_ECS_METADATA"), v1));
}

}  // namespace pp::providers::alibabacloud
