// Azure Resource Manager calls, retries and long-running operations (see arm_client.h).
#include "providers/azure/arm_client.h"

#include <thread>

#include "base/log.h"

namespace pp::providers::azure {
namespace {

constexpr const char* kLog = "azure";
constexpr size_t kMaxBody = 8 << 20;

std::string clip(std::string s, size_t n) {
  if (s.size() > n) {
    s.resize(n);
    s += "...";
  }
  return s;
}

}  // namespace

std::string armErrorText(const nlohmann::json& body) {
  if (!body.is_object()) return "";
  const nlohmann::json* e = &body;
  if (body.contains("error") && body["error"].is_object()) e = &body["error"];
  std::string code, message;
  if (e->contains("code") && (*e)["code"].is_string()) code = (*e)["code"].get<std::string>();
  if (e->contains("message") && (*e)["message"].is_string())
    message = (*e)["message"].get<std::string>();
  if (code.empty() && message.empty()) return "";
  return clip(code, 100) + (message.empty() ? "" : ": " + clip(message, 600));
}

ArmClient::ArmClient(net::HttpClient http, std::shared_ptr<TokenSource> tokens, ArmOptions options)
    : http_(std::move(http)),
      tokens_(std::move(tokens)),
      options_(std::move(options)),
      calls_(options_.retry, options_.sleep, options_.mutatingCallsPerSecond) {}

std::expected<ArmResponse, AttemptError> ArmClient::once(const std::string& method,
                                                         const std::string& url,
                                                         const std::string& bodyText) {
  auto token = tokens_->token();
  if (!token) return std::unexpected(AttemptError{token.error(), {}});
  net::HttpRequest req;
  req.method = method;
  req.url = url;
  req.body = bodyText;
  req.maxResponseBytes = kMaxBody;
  req.timeout = std::chrono::seconds(60);
  req.headers.emplace_back("Authorization", "Bearer " + *token);
  req.headers.emplace_back("Accept", "application/json");
  if (!bodyText.empty()) req.headers.emplace_back("Content-Type", "application/json");
  auto r = http_.send(req);
  if (!r) return std::unexpected(AttemptError{r.error(), {}});
  ArmResponse out;
  out.status = r->status;
  out.asyncOperation = r->header("Azure-AsyncOperation");
  out.location = r->header("Location");
  out.retryAfter = r->header("Retry-After");
  if (!r->body.empty()) {
    out.body = nlohmann::json::parse(r->body, nullptr, false);
    if (out.body.is_discarded()) {
      if (r->ok())
        return std::unexpected(
            AttemptError{Error(Code::kInternal, method + " " + url + ": answer is not JSON"), {}});
      out.body = nullptr;
    }
  }
  if (r->ok()) return out;
  if (r->status == 401) tokens_->invalidate();
  std::string text = armErrorText(out.body);
  AttemptError e{Error(net::codeForHttpStatus(r->status, Code::kFailedPrecondition),
                       "HTTP " + std::to_string(r->status) + (text.empty() ? "" : " " + text)),
                 {}};
  if (r->status == 429 || r->status >= 500) {
    if (auto ms = r->header("x-ms-retry-after-ms");
        !ms.empty() && ms.size() < 9 && ms.find_first_not_of("0123456789") == std::string::npos) {
      e.retryAfter = std::chrono::milliseconds(std::stoll(ms));
    } else if (!out.retryAfter.empty()) {
      e.retryAfter = parseRetryAfter(out.retryAfter);
    }
  }
  return std::unexpected(std::move(e));
}

Result<ArmResponse> ArmClient::call(const std::string& method, const std::string& path,
                                    const std::string& apiVersion, const nlohmann::json* body) {
  std::string url = path.rfind("https://", 0) == 0 || path.rfind("http://", 0) == 0
                        ? path
                        : options_.endpoint + path;
  if (!apiVersion.empty() && url.find("api-version=") == std::string::npos)
    url +=
        (url.find('?') == std::string::npos ? "?" : "&") + std::string("api-version=") + apiVersion;
  std::string bodyText = body ? body->dump() : std::string();
  bool mutating = method != "GET";
  auto attempt = [&] { return once(method, url, bodyText); };
  int unauthenticated = 0;
  auto classify = [&](const AttemptError& failed) {
    const Error& e = failed.error;
    RetryVerdict v;
    // A 401 dropped the cached token (revoked or expired early): one more try with a new one.
    v.retry = e.code == Code::kUnavailable || e.code == Code::kResourceExhausted ||
              e.code == Code::kDeadlineExceeded ||
              (e.code == Code::kUnauthenticated && unauthenticated++ == 0);
    v.after = failed.retryAfter;
    v.throttled = e.code == Code::kResourceExhausted;
    if (v.retry)
      log::warn(kLog, "{} {}: {}; retrying", method, path.substr(0, path.find('?')), e.message);
    return v;
  };
  auto r = calls_.run(mutating, attempt, classify);
  if (!r) return fail(r.error().error.wrap(method + " " + path.substr(0, path.find('?'))));
  return std::move(*r);
}

Status ArmClient::waitOperation(const ArmResponse& started, std::chrono::milliseconds timeout,
                                const std::string& what) {
  const std::string& url =
      !started.asyncOperation.empty() ? started.asyncOperation : started.location;
  if (url.empty()) return {};  // completed synchronously
  if (url.rfind(options_.endpoint + "/", 0) != 0)
    return fail(Code::kInternal, what + ": operation URL is not on the resource manager endpoint " +
                                     options_.endpoint);
  bool async = !started.asyncOperation.empty();
  auto waitFor = [&](const std::string& retryAfter) {
    auto d = parseRetryAfter(retryAfter).value_or(options_.pollInterval);
    d = std::clamp(d, std::chrono::milliseconds(0), std::chrono::milliseconds(60000));
    if (options_.sleep)
      options_.sleep(d);
    else
      std::this_thread::sleep_for(d);
    return d;
  };
  std::chrono::milliseconds waited{0};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string retryAfter = started.retryAfter;
  for (;;) {
    if (waited >= timeout || std::chrono::steady_clock::now() >= deadline)
      return fail(Code::kDeadlineExceeded, what + ": operation did not finish within " +
                                               std::to_string(timeout.count() / 1000) + " s");
    waited += waitFor(retryAfter);
    auto r = call("GET", url, "");
    if (!r) return fail(r.error().wrap(what));
    retryAfter = r->retryAfter;
    if (!async) {
      if (r->status == 202) continue;
      return {};
    }
    if (!r->body.is_object() || !r->body.contains("status") || !r->body["status"].is_string())
      return fail(Code::kInternal, what + ": operation status answer has no status");
    std::string status = r->body["status"].get<std::string>();
    if (status == "Succeeded") return {};
    if (status == "Failed" || status == "Canceled") {
      std::string text = armErrorText(r->body);
      return fail(Code::kAborted,
                  what + ": operation " + status + (text.empty() ? "" : ": " + text));
    }
    // InProgress or a resource-specific intermediate state: keep polling.
  }
}

}  // namespace pp::providers::azure
