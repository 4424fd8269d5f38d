// The fake IBM Cloud IAM token endpoint (see fake_iam.h).
#include "providers/ibmcloud/testing/fake_iam.h"

#include <openssl/rand.h>

#include <atomic>
#include <cctype>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "base/encoding.h"
#include "base/strings.h"
#include "providers/ibmcloud/iam.h"

namespace pp::providers::ibmcloud::testing {
namespace {

using json = nlohmann::json;

std::string randomBytes(size_t n) {
  std::string b(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(b.data()), static_cast<int>(n)) != 1)
    throw std::runtime_error("RAND_bytes failed");
  return b;
}

std::string b64url(std::string_view data) {
  std::string s = encoding::base64UrlEncode(data);
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

net::ServerResponse iamError(int status, const std::string& code, const std::string& message,
                             const std::string& retryAfter = "") {
  net::ServerResponse r;
  r.status = status;
  r.headers = {{"Content-Type", "application/json"}};
  if (!retryAfter.empty()) r.headers.emplace_back("Retry-After", retryAfter);
  json body = {{"errorCode", code},
               {"errorMessage", message},
               {"context",
                {{"requestId", encoding::hexEncode(randomBytes(8))},
                 {"requestType", "incoming.Identity_Token"},
                 {"elapsedTime", "3"}}}};
  r.body = body.dump();
  return r;
}

// Characters a form encoder (Go's url.Values.Encode, Node's querystring) leaves as they are.
bool formSafe(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("-._~!'()*").find(c) != std::string_view::npos;
}

// Parses an application/x-www-form-urlencoded body strictly; what is malformed goes to `bad`.
std::map<std::string, std::string> parseForm(const std::string& body,
                                             std::vector<std::string>& bad) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start <= body.size() && !body.empty()) {
    size_t amp = body.find('&', start);
    std::string_view pair(body.data() + start,
                          (amp == std::string::npos ? body.size() : amp) - start);
    size_t eq = pair.find('=');
    if (pair.empty() || eq == std::string_view::npos || eq == 0) {
      bad.push_back("form item \"" + std::string(pair.substr(0, 40)) + "\" is not name=value");
    } else {
      for (size_t i = 0; i < pair.size(); ++i) {
        char c = pair[i];
        if (i == eq || formSafe(c) || c == '+') continue;
        if (c == '%' && i + 2 < pair.size() + 0 &&
            std::isxdigit(static_cast<unsigned char>(pair[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(pair[i + 2]))) {
          i += 2;
          continue;
        }
        bad.push_back("form item \"" + std::string(pair.substr(0, eq)) +
                      "\" has a character that must be percent-encoded");
        break;
      }
      std::string name = net::percentDecode(pair.substr(0, eq), true);
      std::string value = net::percentDecode(pair.substr(eq + 1), true);
      if (!out.emplace(name, value).second) bad.push_back("form field " + name + " twice");
    }
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  return out;
}

std::string field(const std::map<std::string, std::string>& f, const std::string& name) {
  auto it = f.find(name);
  return it == f.end() ? std::string() : it->second;
}

}  // namespace

FakeIam::FakeIam() {
  net::HttpServerOptions o;
  o.name = "fake-iam";
  o.threads = 2;
  auto s = net::HttpServer::start(o, [this](const net::ServerRequest& r) { return handle(r); });
  if (!s) throw std::runtime_error("fake IAM: " + s.error().message);
  server_ = std::move(*s);
}

FakeIam::~FakeIam() {
  if (server_) server_->stop();
}

std::string FakeIam::baseUrl() const {
  return server_->baseUrl();
}
std::string FakeIam::tokenUrl() const {
  return baseUrl() + kIamTokenPath;
}

void FakeIam::setApiKey(std::string key) {
  std::lock_guard lock(mu_);
  apiKey_ = std::move(key);
}

void FakeIam::addTrustedProfile(const std::string& profileId, const std::string& crToken) {
  std::lock_guard lock(mu_);
  profiles_[profileId].insert(crToken);
}

void FakeIam::setTokenLifetime(int64_t seconds) {
  std::lock_guard lock(mu_);
  lifetime_ = seconds;
}

void FakeIam::setClock(Clock clock) {
  std::lock_guard lock(mu_);
  clock_ = std::move(clock);
}

void FakeIam::revokeAll() {
  std::lock_guard lock(mu_);
  tokens_.clear();
}

int FakeIam::tokensIssued() const {
  int n = 0;
  for (const auto& c : log_.all())
    if (c.status == 200) ++n;
  return n;
}

std::chrono::system_clock::time_point FakeIam::now() const {
  return clock_ ? clock_() : std::chrono::system_clock::now();
}

bool FakeIam::valid(const std::string& authorizationHeader) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorizationHeader.size() <= kBearer.size() ||
      authorizationHeader.compare(0, kBearer.size(), kBearer) != 0)
    return false;
  std::string token = authorizationHeader.substr(kBearer.size());
  std::lock_guard lock(mu_);
  auto it = tokens_.find(token);
  return it != tokens_.end() && now() < it->second;
}

net::ServerResponse FakeIam::handle(const net::ServerRequest& req) {
  IamCall call;
  call.method = req.method;
  call.path = req.path;
  call.contentType = req.header("Content-Type");
  call.accept = req.header("Accept");
  auto answer = [&](net::ServerResponse r) {
    call.status = r.status;
    log_.record(call);
    return r;
  };
  if (req.path != kIamTokenPath) {
    log_.problem("request to " + req.path + " (IAM's token endpoint is " + kIamTokenPath + ")");
    return answer(iamError(404, "BXNIM0102E", "Not found"));
  }
  if (req.method != "POST") {
    log_.problem(req.method + " " + req.path + " (token requests are POSTs)");
    return answer(iamError(405, "BXNIM0103E", "Method not allowed"));
  }
  std::string ct = strings::toLower(call.contentType);
  if (ct.substr(0, ct.find(';')) != "application/x-www-form-urlencoded") {
    log_.problem("token request with Content-Type \"" + call.contentType +
                 "\" (IAM takes application/x-www-form-urlencoded)");
    return answer(iamError(400, "BXNIM0109E", "Property missing or empty: grant_type"));
  }
  if (std::string a = strings::toLower(call.accept);
      !a.empty() && a.find("application/json") == std::string::npos &&
      a.find("*/*") == std::string::npos) {
    log_.problem("token request with Accept \"" + call.accept + "\" (IAM answers JSON)");
  }
  std::vector<std::string> bad;
  call.form = parseForm(req.body, bad);
  for (auto& b : bad) log_.problem("token request body: " + b);
  std::string grant = field(call.form, "grant_type");
  if (auto f = failures_.take("POST " + req.path + " " + grant)) {
    return answer(
        iamError(f->status, f->code.empty() ? "BXNIM0400E" : f->code, f->message, f->retryAfter));
  }
  if (!bad.empty()) return answer(iamError(400, "BXNIM0109E", "Malformed form body"));
  if (grant.empty())
    return answer(iamError(400, "BXNIM0109E", "Property missing or empty: grant_type"));

  std::string subject;
  {
    std::lock_guard lock(mu_);
    if (grant == kApiKeyGrant) {
      std::string key = field(call.form, "apikey");
      if (key.empty())
        return answer(iamError(400, "BXNIM0109E", "Property missing or empty: apikey"));
      if (key != apiKey_)
        return answer(iamError(400, "BXNIM0415E", "Provided API key could not be found."));
      if (auto rt = field(call.form, "response_type"); !rt.empty() && rt != "cloud_iam")
        log_.problem("API-key grant with response_type " + rt);
      subject = "iam-ServiceId-fake";
    } else if (grant == kCrTokenGrant) {
      std::string cr = field(call.form, "cr_token");
      std::string profile = field(call.form, "profile_id");
      if (profile.empty()) profile = field(call.form, "profile_name");
      if (cr.empty())
        return answer(iamError(400, "BXNIM0109E", "Property missing or empty: cr_token"));
      if (profile.empty())
        return answer(
            iamError(400, "BXNIM0109E",
                     "Property missing or empty: profile_id, profile_name or profile_crn"));
      auto it = profiles_.find(profile);
      if (it == profiles_.end())
        return answer(
            iamError(400, "BXNIM0481E", "The trusted profile " + profile + " does not exist."));
      if (!it->second.count(cr))
        return answer(iamError(400, "BXNIM0471E",
                               "The compute resource token is not valid or does not match the "
                               "trusted profile's rules."));
      subject = profile;
    } else {
      return answer(iamError(400, "BXNIM0109E", "Unsupported grant_type " + grant));
    }
  }

  std::string token;
  int64_t lifetime;
  std::chrono::system_clock::time_point issued;
  {
    std::lock_guard lock(mu_);
    lifetime = lifetime_;
    issued = now();
    int64_t iat =
        std::chrono::duration_cast<std::chrono::seconds>(issued.time_since_epoch()).count();
    json header = {{"kid", "fake-iam-key"}, {"alg", "RS256"}};
    json claims = {{"iam_id", subject}, {"sub", subject},        {"iss", baseUrl() + "/identity"},
                   {"iat", iat},        {"exp", iat + lifetime}, {"jti", b64url(randomBytes(12))}};
    token = b64url(header.dump()) + "." + b64url(claims.dump()) + "." + b64url(randomBytes(64));
    tokens_[token] = issued + std::chrono::seconds(lifetime);
  }
  int64_t iat = std::chrono::duration_cast<std::chrono::seconds>(issued.time_since_epoch()).count();
  json body = {{"access_token", token},        {"refresh_token", "not_supported"},
               {"token_type", "Bearer"},       {"expires_in", lifetime},
               {"expiration", iat + lifetime}, {"scope", "ibm openid"}};
  net::ServerResponse r;
  r.headers = {{"Content-Type", "application/json"}};
  r.body = body.dump();
  return answer(std::move(r));
}

}  // namespace pp::providers::ibmcloud::testing
