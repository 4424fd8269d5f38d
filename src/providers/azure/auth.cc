// Entra ID token acquisition for the azure provider (see auth.h).
#include "providers/azure/auth.h"

#include <nlohmann/json.hpp>

#include "base/files.h"
#include "base/log.h"

namespace pp::providers::azure {
namespace {

constexpr const char* kLog = "azure";
constexpr auto kRefreshMargin = std::chrono::minutes(5);
constexpr size_t kMaxTokenBody = 64 << 10;

std::string form(std::initializer_list<std::pair<const char*, std::string>> fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += net::urlEncode(v);
  }
  return out;
}

// The error of a token endpoint: {"error": "...", "error_description": "..."} (Entra) or the
// IMDS variant with the same keys. Only codes and descriptions, never the request.
std::string tokenError(const net::HttpResponse& r) {
  std::string what = "HTTP " + std::to_string(r.status);
  if (r.body.size() > kMaxTokenBody) return what;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object()) {
    if (j.contains("error") && j["error"].is_string()) what += " " + j["error"].get<std::string>();
    if (j.contains("error_description") && j["error_description"].is_string()) {
      std::string d = j["error_description"].get<std::string>();
      if (d.size() > 400) d.resize(400);
      what += ": " + d;
    }
  }
  return what;
}

}  // namespace

const char* authModeName(AuthMode mode) {
  switch (mode) {
    case AuthMode::kClientSecret:
      return "client secret";
    case AuthMode::kWorkloadIdentity:
      return "workload identity";
    case AuthMode::kManagedIdentity:
      return "managed identity";
  }
  return "?";
}

Result<std::string> parseTokenResponse(const std::string& body, std::chrono::seconds* lifetime) {
  if (body.size() > kMaxTokenBody)
    return fail(Code::kInternal, "token endpoint answer is too large");
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("access_token") || !j["access_token"].is_string())
    return fail(Code::kInternal, "token endpoint answer has no access_token");
  std::string token = j["access_token"].get<std::string>();
  if (token.empty() || token.size() > 16384)
    return fail(Code::kInternal, "token endpoint answered an empty or oversized access_token");
  int64_t secs = 0;
  if (j.contains("expires_in")) {
    const auto& e = j["expires_in"];
    if (e.is_number_integer()) {
      secs = e.get<int64_t>();
    } else if (e.is_string()) {  // IMDS sends numbers as strings
      const std::string s = e.get<std::string>();
      if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos)
        return fail(Code::kInternal, "token endpoint answered an invalid expires_in");
      secs = std::stoll(s);
    } else {
      return fail(Code::kInternal, "token endpoint answered an invalid expires_in");
    }
  }
  if (secs <= 0) secs = 300;  // unknown lifetime: use it briefly
  if (secs > 7 * 24 * 3600) secs = 7 * 24 * 3600;
  *lifetime = std::chrono::seconds(secs);
  return token;
}

TokenSource::TokenSource(net::HttpClient http, AuthOptions options, Clock clock)
    : BearerTokenCache(kLog, std::move(clock), kRefreshMargin),
      http_(std::move(http)),
      options_(std::move(options)) {}

Result<BearerTokenCache::Token> TokenSource::fetch(std::chrono::system_clock::time_point now) {
  std::chrono::seconds lifetime{0};
  auto t = request(&lifetime);
  if (!t)
    return fail(t.error().wrap(std::string("azure: getting a token (") +
                               authModeName(options_.mode) + ")"));
  return Token{std::move(*t), now + lifetime};
}

Result<std::string> TokenSource::request(std::chrono::seconds* lifetime) {
  const AuthOptions& o = options_;
  std::string audience = o.audience.empty() ? o.resourceManager : o.audience;
  while (!audience.empty() && audience.back() == '/') audience.pop_back();
  std::string scope = audience + "/.default";
  net::HttpRequest req;
  req.timeout = std::chrono::seconds(30);
  req.maxResponseBytes = kMaxTokenBody;
  if (o.mode == AuthMode::kManagedIdentity) {
    req.method = "GET";
    req.url = o.imdsEndpoint + "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=" +
              net::urlEncode(audience + "/");
    if (!o.clientId.empty()) req.url += "&client_id=" + net::urlEncode(o.clientId);
    req.headers.emplace_back("Metadata", "true");
  } else {
    if (o.tenantId.empty() || o.clientId.empty())
      return fail(Code::kInvalidArgument,
                  "needs -tenantid (AZURE_TENANT_ID) and -clientid (AZURE_CLIENT_ID)");
    req.method = "POST";
    req.url = o.authorityHost + "/" + net::urlEncode(o.tenantId) + "/oauth2/v2.0/token";
    req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    if (o.mode == AuthMode::kClientSecret) {
      req.body = form({{"grant_type", "client_credentials"},
                       {"client_id", o.clientId},
                       {"client_secret", o.clientSecret},
                       {"scope", scope}});
    } else {
      auto assertion = files::readFile(o.federatedTokenFile);
      if (!assertion)
        return fail(Code::kFailedPrecondition, "reading the federated token file " +
                                                   o.federatedTokenFile + ": " +
                                                   assertion.error().message);
      std::string a = *assertion;
      while (!a.empty() && (a.back() == '\n' || a.back() == '\r' || a.back() == ' ')) a.pop_back();
      if (a.empty())
        return fail(Code::kFailedPrecondition,
                    "the federated token file " + o.federatedTokenFile + " is empty");
      req.body =
          form({{"grant_type", "client_credentials"},
                {"client_id", o.clientId},
                {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
                {"client_assertion", a},
                {"scope", scope}});
    }
  }
  auto r = http_.send(req);
  if (!r) return fail(r.error());
  if (!r->ok()) {
    Code c = r->status == 400 || r->status == 401 ? Code::kUnauthenticated
             : r->status >= 500                   ? Code::kUnavailable
                                                  : Code::kPermissionDenied;
    return fail(c, "token endpoint refused: " + tokenError(*r));
  }
  return parseTokenResponse(r->body, lifetime);
}

}  // namespace pp::providers::azure
