// RPC-style OpenAPI client (see acs_client.h).
#include "providers/alibabacloud/acs_client.h"

#include "base/json_fields.h"
#include "base/log.h"

namespace pp::providers::alibabacloud {
namespace {

using json = nlohmann::json;
constexpr const char* kLog = "alibabacloud";

AcsError parseError(const net::HttpResponse& r) {
  AcsError e;
  e.httpStatus = r.status;
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object()) {
    e.code = jsonf::stringField(j, "Code");
    e.message = jsonf::stringField(j, "Message");
    e.requestId = jsonf::stringField(j, "RequestId");
  }
  if (e.code.empty() && e.message.empty()) e.message = r.body.substr(0, 200);
  if (e.message.size() > 1000) e.message.resize(1000);
  if (e.code.size() > 200) e.code.resize(200);
  if (auto ra = r.header("x-acs-retry-after"); !ra.empty()) {
    // The SDKs read it as milliseconds.
    if (ra.size() < 9 && ra.find_first_not_of("0123456789") == std::string::npos)
      e.retryAfter = std::chrono::milliseconds(std::stoll(ra));
  } else if (auto ra2 = r.header("Retry-After"); !ra2.empty()) {
    e.retryAfter = parseRetryAfter(ra2);
  }
  return e;
}

bool retryable(const AcsError& e) {
  return e.httpStatus == 0 || e.httpStatus >= 500 || e.throttled() ||
         e.code == "ServiceUnavailable" || e.code == "InternalError" || e.code == "UnknownError";
}

}  // namespace

AcsError parseAcsError(const net::HttpResponse& response) {
  return parseError(response);
}

Error AcsError::toError(const std::string& context) const {
  Code c = net::codeForHttpStatus(httpStatus, Code::kUnknown);
  if (httpStatus == 0) {
    c = Code::kUnavailable;
  } else if (throttled() || code.find("QuotaExceed") != std::string::npos ||
             code.find("QuotaExceeded") != std::string::npos || code == "OperationDenied.NoStock") {
    c = Code::kResourceExhausted;
  } else if (code.find("NotFound") != std::string::npos) {
    c = Code::kNotFound;
  } else if (code.rfind("InvalidAccessKeyId", 0) == 0 || code == "SignatureDoesNotMatch" ||
             code == "IncompleteSignature" || code.rfind("InvalidSecurityToken", 0) == 0) {
    c = Code::kUnauthenticated;
  } else if (code.rfind("Forbidden", 0) == 0 || code == "NoPermission") {
    c = Code::kPermissionDenied;
  } else if (code == "IncorrectInstanceStatus" || code.rfind("IncorrectStatus", 0) == 0 ||
             code.rfind("IncorrectEipStatus", 0) == 0 || code.rfind("InvalidOperation", 0) == 0) {
    c = Code::kFailedPrecondition;
  } else if (code == "IdempotentParameterMismatch") {
    c = Code::kAlreadyExists;
  }
  std::string m = context + ": ";
  if (!code.empty()) m += code + ": ";
  m += message;
  if (httpStatus != 0) {
    m += " (HTTP " + std::to_string(httpStatus);
    if (!requestId.empty()) m += ", RequestId " + requestId;
    m += ")";
  }
  return Error{c, m};
}

std::string hostOfUrl(const std::string& url) {
  auto p = url.find("://");
  if (p == std::string::npos) return "";
  std::string scheme = url.substr(0, p);
  if (scheme != "http" && scheme != "https") return "";
  std::string rest = url.substr(p + 3);
  auto slash = rest.find('/');
  if (slash != std::string::npos) rest.resize(slash);
  return rest;
}

AcsClient::AcsClient(net::HttpClient http, std::shared_ptr<CredentialCache> credentials,
                     AcsClientOptions options)
    : http_(std::move(http)),
      credentials_(std::move(credentials)),
      options_(std::move(options)),
      calls_(options_.retry, options_.sleep, options_.mutatingCallsPerSecond) {
  while (!options_.endpoint.empty() && options_.endpoint.back() == '/')
    options_.endpoint.pop_back();
  if (!options_.clock) options_.clock = systemClock();
  host_ = hostOfUrl(options_.endpoint);
}

std::expected<json, AcsError> AcsClient::attempt(const std::string& action, const Params& params) {
  auto creds = credentials_->get();
  if (!creds) {
    bool transient =
        creds.error().code == Code::kUnavailable || creds.error().code == Code::kDeadlineExceeded;
    return std::unexpected(
        AcsError{0, transient ? "" : "Credentials", creds.error().message, "", {}});
  }
  Acs3Request r;
  r.method = "POST";
  r.path = "/";
  r.query = params;
  r.headers = {{"host", host_},
               {"x-acs-action", action},
               {"x-acs-version", options_.version},
               {"accept", "application/json"}};
  acs3Sign(r, *creds, options_.clock(), newNonce());
  net::HttpRequest req;
  req.method = "POST";
  req.url = options_.endpoint + "/";
  if (auto q = acs3CanonicalQuery(params); !q.empty()) req.url += "?" + q;
  req.headers = r.headers;
  req.timeout = options_.timeout;
  req.maxResponseBytes = 8 << 20;
  auto resp = http_.send(req);
  if (!resp) return std::unexpected(AcsError{0, "", resp.error().message, "", {}});
  if (!resp->ok()) return std::unexpected(parseError(*resp));
  json j = json::parse(resp->body, nullptr, false);
  if (!j.is_object())
    return std::unexpected(
        AcsError{resp->status, "BadResponse", "the answer is not a JSON object", "", {}});
  return j;
}

std::expected<json, AcsError> AcsClient::call(const std::string& action, const Params& params,
                                              bool mutating) {
  bool refreshed = false;
  auto once = [&]() -> std::expected<json, AcsError> {
    auto r = attempt(action, params);
    if (!r && !refreshed && r.error().code.rfind("InvalidSecurityToken", 0) == 0) {
      refreshed = true;
      credentials_->invalidate();
      r = attempt(action, params);
    }
    return r;
  };
  auto classify = [&](const AcsError& e) -> RetryVerdict {
    if (e.code == "Credentials" || !retryable(e)) return {};
    log::warn(kLog, "{}: {} (retrying)", action,
              e.httpStatus ? "HTTP " + std::to_string(e.httpStatus) + " " + e.code : e.message);
    return {true, e.retryAfter};
  };
  return calls_.run(mutating, once, classify);
}

}  // namespace pp::providers::alibabacloud
