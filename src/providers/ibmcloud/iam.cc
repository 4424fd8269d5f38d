// IBM Cloud IAM access tokens (see iam.h).
#include "providers/ibmcloud/iam.h"

#include <nlohmann/json.hpp>

#include "base/files.h"
#include "base/json_fields.h"
#include "base/log.h"
#include "base/strings.h"

namespace pp::providers::ibmcloud {
namespace {

using json = nlohmann::json;
constexpr size_t kMaxTokenResponse = 64 << 10;
constexpr size_t kMaxCrTokenBytes = 64 << 10;
constexpr int64_t kMaxLifetimeSeconds = 86400 * 7;

// IAM's error body: {"errorCode": "BXNIM0415E", "errorMessage": "...", "context": {...}}.
std::string iamErrorDetail(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  std::string detail;
  if (j.is_object()) {
    detail = jsonf::stringField(j, "errorCode");
    if (auto m = jsonf::stringField(j, "errorMessage"); !m.empty())
      detail += (detail.empty() ? "" : ": ") + m;
    if (detail.empty()) {  // OAuth-style answers from proxies in front of IAM
      detail = jsonf::stringField(j, "error");
      if (auto d = jsonf::stringField(j, "error_description"); !d.empty())
        detail += (detail.empty() ? "" : ": ") + d;
    }
  }
  if (detail.size() > 400) detail.resize(400);
  return detail;
}

std::optional<int64_t> intField(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

}  // namespace

std::string iamErrorText(const std::string& body) {
  return iamErrorDetail(body);
}

std::string iamTokenEndpoint(std::string_view url) {
  std::string u(strings::trim(url));
  if (u.empty()) u = kDefaultIamUrl;
  while (!u.empty() && u.back() == '/') u.pop_back();
  std::string_view suffix = kIamTokenPath;
  if (u.size() >= suffix.size() && u.compare(u.size() - suffix.size(), suffix.size(), suffix) == 0)
    u.resize(u.size() - suffix.size());
  while (!u.empty() && u.back() == '/') u.pop_back();
  return u + kIamTokenPath;
}

Result<std::unique_ptr<IamTokenSource>> IamTokenSource::create(IamSettings s,
                                                               std::string logComponent,
                                                               Clock clock,
                                                               IamCallOptions options) {
  if (s.apiKey.empty() && s.profileId.empty()) {
    return fail(Code::kInvalidArgument,
                logComponent +
                    ": no IBM Cloud credentials: set -api-key (IBMCLOUD_API_KEY), or "
                    "-iam-profile-id (IBMCLOUD_IAM_PROFILE_ID) with a compute-resource token in "
                    "-cr-token-filename");
  }
  if (s.apiKey.empty() && s.crTokenFile.empty()) {
    return fail(Code::kInvalidArgument,
                logComponent +
                    ": -iam-profile-id needs -cr-token-filename (the projected "
                    "service account token file)");
  }
  std::string u(strings::trim(s.tokenUrl));
  if (!u.empty() && u.rfind("https://", 0) != 0 && u.rfind("http://", 0) != 0) {
    return fail(Code::kInvalidArgument,
                logComponent + ": -iam-service-url (IBMCLOUD_IAM_ENDPOINT) is not an http(s) URL");
  }
  return std::unique_ptr<IamTokenSource>(new IamTokenSource(std::move(s), std::move(logComponent),
                                                            std::move(clock), std::move(options)));
}

IamTokenSource::IamTokenSource(IamSettings s, std::string logComponent, Clock clock,
                               IamCallOptions options)
    : BearerTokenCache(std::move(logComponent), std::move(clock)),
      settings_(std::move(s)),
      endpoint_(iamTokenEndpoint(settings_.tokenUrl)),
      options_(std::move(options)),
      retrier_(options_.retry, options_.sleep) {}

std::string IamTokenSource::describe() const {
  if (!settings_.apiKey.empty()) return "IAM API key at " + endpoint_;
  return "IAM trusted profile " + settings_.profileId + " (compute-resource token " +
         settings_.crTokenFile + ") at " + endpoint_;
}

Result<std::string> IamTokenSource::formBody() const {
  if (!settings_.apiKey.empty()) {
    return "grant_type=" + net::urlEncode(kApiKeyGrant) +
           "&apikey=" + net::urlEncode(settings_.apiKey) + "&response_type=cloud_iam";
  }
  // Read at every fetch: the kubelet rotates the projected token.
  auto text = files::readFile(settings_.crTokenFile, kMaxCrTokenBytes);
  if (!text) {
    return fail(
        text.error().code == Code::kNotFound ? Code::kFailedPrecondition : text.error().code,
        "reading the compute-resource token file -cr-token-filename " + settings_.crTokenFile +
            ": " + text.error().message);
  }
  std::string token(strings::trim(*text));
  if (token.empty()) {
    return fail(Code::kFailedPrecondition, "the compute-resource token file -cr-token-filename " +
                                               settings_.crTokenFile + " is empty");
  }
  return "grant_type=" + net::urlEncode(kCrTokenGrant) + "&cr_token=" + net::urlEncode(token) +
         "&profile_id=" + net::urlEncode(settings_.profileId);
}

Result<BearerTokenCache::Token> IamTokenSource::fetch(std::chrono::system_clock::time_point now) {
  auto body = formBody();
  if (!body) return fail(body.error());
  net::HttpRequest req;
  req.method = "POST";
  req.url = endpoint_;
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"Accept", "application/json"}};
  req.body = std::move(*body);
  req.timeout = options_.timeout;
  req.maxResponseBytes = kMaxTokenResponse;

  auto attempt = [&]() -> std::expected<net::HttpResponse, AttemptError> {
    auto r = options_.http.send(req);
    if (!r)
      return std::unexpected(AttemptError{r.error().wrap("IAM token request to " + endpoint_), {}});
    if (r->status == 429 || r->status >= 500) {
      std::string detail = iamErrorDetail(r->body);
      AttemptError e{
          Error{net::codeForHttpStatus(r->status, Code::kUnavailable),
                "IAM token request to " + endpoint_ + " failed: HTTP " + std::to_string(r->status) +
                    (detail.empty() ? std::string() : " (" + detail + ")")},
          {}};
      if (auto ra = r->header("Retry-After"); !ra.empty()) e.retryAfter = parseRetryAfter(ra);
      return std::unexpected(std::move(e));
    }
    return std::move(*r);
  };
  auto classify = [](const AttemptError& e) {
    bool transient = e.error.code == Code::kUnavailable ||
                     e.error.code == Code::kDeadlineExceeded ||
                     e.error.code == Code::kResourceExhausted;
    return RetryVerdict{transient, e.retryAfter};
  };
  auto r = retrier_.run(attempt, classify);
  if (!r) return fail(r.error().error);

  json j = json::parse(r->body, nullptr, false);
  if (!r->ok()) {
    std::string detail = iamErrorDetail(r->body);
    Code code = r->status == 400 || r->status == 401 ? Code::kUnauthenticated
                : r->status == 403                   ? Code::kPermissionDenied
                                   : net::codeForHttpStatus(r->status, Code::kUnknown);
    return fail(code, "IAM token request to " + endpoint_ + " (" +
                          (usesApiKey() ? std::string("API key")
                                        : "trusted profile " + settings_.profileId) +
                          ") failed: HTTP " + std::to_string(r->status) +
                          (detail.empty() ? std::string() : " (" + detail + ")"));
  }
  if (!j.is_object())
    return fail(Code::kInternal, "IAM token response from " + endpoint_ + " is not a JSON object");
  std::string token = jsonf::stringField(j, "access_token");
  if (token.empty() || token.size() > 16384)
    return fail(Code::kInternal,
                "IAM token response from " + endpoint_ + " has no usable access_token");
  if (auto type = jsonf::stringField(j, "token_type");
      !type.empty() && !strings::equalsIgnoreCase(type, "Bearer"))
    return fail(Code::kInternal,
                "IAM token response from " + endpoint_ + " has token_type " + type.substr(0, 40));
  // expires_in counts from our own clock (no skew); the absolute expiration is the fallback.
  std::chrono::system_clock::time_point expiry;
  if (auto in = intField(j, "expires_in"); in && *in > 0 && *in <= kMaxLifetimeSeconds) {
    expiry = now + std::chrono::seconds(*in);
  } else if (auto at = intField(j, "expiration"); at && *at > 0) {
    expiry = std::chrono::system_clock::time_point(std::chrono::seconds(*at));
    if (expiry <= now || expiry > now + std::chrono::seconds(kMaxLifetimeSeconds))
      return fail(Code::kInternal, "IAM token response from " + endpoint_ +
                                       " has an expiration outside the next 7 days");
  } else {
    return fail(Code::kInternal, "IAM token response from " + endpoint_ +
                                     " has neither a valid expires_in nor an expiration");
  }
  return Token{std::move(token), expiry};
}

}  // namespace pp::providers::ibmcloud
