// AWS credential sources and the default chain (see credentials.h).
#include "providers/aws/credentials.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "base/files.h"
#include "base/log.h"
#include "base/utc_time.h"
#include "providers/aws/aws_error.h"
#include "providers/aws/shared_config.h"
#include "providers/aws/xml.h"

namespace pp::providers::aws {
namespace {

constexpr const char* kLog = "aws";

std::optional<std::string> nonEmpty(const flags::EnvLookup& env, const char* name) {
  auto v = env(name);
  if (v && !v->empty()) return v;
  return std::nullopt;
}

}  // namespace

WebIdentityCredentialsProvider::WebIdentityCredentialsProvider(net::HttpClient http,
                                                               Options options, Clock clock)
    : http_(std::move(http)), options_(std::move(options)), clock_(std::move(clock)) {}

Result<Credentials> parseWebIdentityAnswer(std::string_view body, const std::string& action) {
  auto doc = parseXml(body);
  if (!doc) return fail(doc.error().wrap(action));
  const XmlElement* c = doc->find({"AssumeRoleWithWebIdentityResult", "Credentials"});
  if (doc->name != "AssumeRoleWithWebIdentityResponse" || c == nullptr) {
    return fail(Code::kInternal, action + ": answer has no Credentials element");
  }
  Credentials out;
  out.accessKeyId = c->childText("AccessKeyId");
  out.secretAccessKey = c->childText("SecretAccessKey");
  out.sessionToken = c->childText("SessionToken");
  auto exp = utc::parseRfc3339(c->childText("Expiration"), {.offset = false});
  if (!out.valid() || out.sessionToken.empty() || !exp) {
    return fail(Code::kInternal, action + ": answer has incomplete credentials");
  }
  out.expiration = *exp;
  out.source = "web identity";
  return out;
}

Result<Credentials> WebIdentityCredentialsProvider::retrieve() {
  auto token = files::readFile(options_.tokenFile, 64 << 10);
  if (!token)
    return fail(token.error().wrap("reading the web identity token file " + options_.tokenFile));
  while (!token->empty() && (token->back() == '\n' || token->back() == '\r')) token->pop_back();
  std::string session = options_.sessionName;
  if (session.empty()) {
    session =
        "peerpods-" +
        std::to_string(
            std::chrono::duration_cast<std::chrono::seconds>(clock_().time_since_epoch()).count());
  }
  net::HttpRequest req;
  req.method = "POST";
  req.url = options_.stsEndpoint + "/";
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  req.body = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" +
             net::urlEncode(options_.roleArn) + "&RoleSessionName=" + net::urlEncode(session) +
             "&WebIdentityToken=" + net::urlEncode(*token);
  req.timeout = std::chrono::seconds(20);
  req.maxResponseBytes = 1 << 20;
  const std::string action = "STS AssumeRoleWithWebIdentity (role " + options_.roleArn + ")";
  auto r = http_.send(req);
  if (!r) return fail(r.error().wrap(action));
  if (!r->ok()) return fail(parseAwsError(r->status, r->body).toError(action));
  return parseWebIdentityAnswer(r->body, action);
}

Result<Credentials> ImdsCredentialsProvider::retrieve() {
  auto roles = imds_->get("meta-data/iam/security-credentials/");
  if (!roles) return fail(roles.error().wrap("instance role"));
  std::string role = roles->substr(0, roles->find('\n'));
  if (role.empty())
    return fail(Code::kNotFound, "instance role: the instance has no IAM instance profile");
  auto body = imds_->get("meta-data/iam/security-credentials/" + role);
  if (!body) return fail(body.error().wrap("instance role " + role));
  auto j = nlohmann::json::parse(*body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return fail(Code::kInternal, "instance role " + role + ": malformed answer");
  auto str = [&](const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (str("Code") != "Success")
    return fail(Code::kUnavailable, "instance role " + role + ": status " + str("Code"));
  Credentials out;
  out.accessKeyId = str("AccessKeyId");
  out.secretAccessKey = str("SecretAccessKey");
  out.sessionToken = str("Token");
  auto exp = utc::parseRfc3339(str("Expiration"), {.offset = false});
  if (!out.valid() || !exp)
    return fail(Code::kInternal, "instance role " + role + ": incomplete credentials");
  out.expiration = *exp;
  out.source = "instance role " + role;
  return out;
}

CachingCredentialsProvider::CachingCredentialsProvider(std::shared_ptr<CredentialsProvider> inner,
                                                       Clock clock,
                                                       std::chrono::seconds refreshBefore)
    : inner_(std::move(inner)), clock_(std::move(clock)), refreshBefore_(refreshBefore) {}

Result<Credentials> CachingCredentialsProvider::retrieve() {
  std::lock_guard lock(mu_);
  auto now = clock_();
  if (cached_) {
    bool expires = cached_->expiration != std::chrono::system_clock::time_point{};
    if (!expires || now + refreshBefore_ < cached_->expiration) return *cached_;
  }
  auto fresh = inner_->retrieve();
  if (!fresh) {
    if (cached_ && now < cached_->expiration) {
      log::warn(kLog,
                "refreshing credentials ({}) failed, using the current ones until they expire: {}",
                cached_->source, fresh.error().message);
      return *cached_;
    }
    return fresh;
  }
  if (!cached_ || cached_->source != fresh->source)
    log::info(kLog, "using AWS credentials from {}", fresh->source);
  cached_ = *fresh;
  return fresh;
}

Result<Credentials> ChainCredentialsProvider::retrieve() {
  std::shared_ptr<CredentialsProvider> chosen;
  {
    std::lock_guard lock(mu_);
    chosen = chosen_;
  }
  if (chosen) return chosen->retrieve();
  std::string tried;
  for (const auto& [name, make] : sources_) {
    auto p = make();
    if (!p) return fail(p.error());  // a source that is configured but broken is an error
    if (!*p) continue;               // not configured
    auto c = (*p)->retrieve();
    if (c) {
      std::lock_guard lock(mu_);
      chosen_ = *p;
      return c;
    }
    if (!tried.empty()) tried += "; ";
    tried += name + ": " + c.error().message;
  }
  return fail(Code::kUnauthenticated,
              "no AWS credentials found (set -aws-access-key-id/-aws-secret-key, "
              "AWS_ACCESS_KEY_ID, a profile, "
              "web identity or an instance role)" +
                  (tried.empty() ? std::string() : ": " + tried));
}

std::shared_ptr<CredentialsProvider> makeDefaultCredentials(const CredentialsInputs& in) {
  using Made = Result<std::shared_ptr<CredentialsProvider>>;
  std::vector<ChainCredentialsProvider::Source> sources;
  sources.emplace_back("static", [in]() -> Made {
    if (in.accessKeyId.empty() || in.secretAccessKey.empty()) return nullptr;
    return std::make_shared<StaticCredentialsProvider>(
        Credentials{in.accessKeyId, in.secretAccessKey, in.sessionToken, {}, "static keys"});
  });
  sources.emplace_back("environment", [in]() -> Made {
    auto id = nonEmpty(in.env, "AWS_ACCESS_KEY_ID");
    auto secret = nonEmpty(in.env, "AWS_SECRET_ACCESS_KEY");
    if (!secret) secret = nonEmpty(in.env, "AWS_SECRET_KEY");
    if (!id) id = nonEmpty(in.env, "AWS_ACCESS_KEY");
    if (!id || !secret) return nullptr;
    return std::make_shared<StaticCredentialsProvider>(
        Credentials{*id, *secret, in.env("AWS_SESSION_TOKEN").value_or(""), {}, "environment"});
  });
  sources.emplace_back("web identity", [in]() -> Made {
    auto file = nonEmpty(in.env, "AWS_WEB_IDENTITY_TOKEN_FILE");
    auto role = nonEmpty(in.env, "AWS_ROLE_ARN");
    if (!file || !role) return nullptr;
    return std::make_shared<WebIdentityCredentialsProvider>(
        in.http,
        WebIdentityCredentialsProvider::Options{in.stsEndpoint, *role, *file,
                                                in.env("AWS_ROLE_SESSION_NAME").value_or("")},
        in.clock);
  });
  sources.emplace_back("profile " + in.profile, [in]() -> Made {
    auto p = loadProfile(in.profile, in.env);
    if (!p) return fail(p.error().wrap("AWS profile " + in.profile));
    if (!p->accessKeyId.empty() && !p->secretAccessKey.empty()) {
      return std::make_shared<StaticCredentialsProvider>(Credentials{
          p->accessKeyId, p->secretAccessKey, p->sessionToken, {}, "profile " + in.profile});
    }
    if (!p->roleArn.empty() && !p->webIdentityTokenFile.empty()) {
      return std::make_shared<WebIdentityCredentialsProvider>(
          in.http,
          WebIdentityCredentialsProvider::Options{in.stsEndpoint, p->roleArn,
                                                  p->webIdentityTokenFile, p->roleSessionName},
          in.clock);
    }
    if (!p->roleArn.empty()) {
      return fail(Code::kUnimplemented,
                  "AWS profile " + in.profile +
                      ": role_arn with source_profile/credential_source is not supported; "
                      "use web_identity_token_file, static keys or the instance role");
    }
    return nullptr;
  });
  sources.emplace_back("instance role", [in]() -> Made {
    if (!in.imds || in.imds->disabled()) return nullptr;
    return std::make_shared<ImdsCredentialsProvider>(in.imds);
  });
  return std::make_shared<CachingCredentialsProvider>(
      std::make_shared<ChainCredentialsProvider>(std::move(sources)), in.clock);
}

}  // namespace pp::providers::aws
