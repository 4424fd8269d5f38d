// Service-account JWT and metadata-server access tokens (see gcp_auth.h).
#include "providers/gcp/gcp_auth.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "base/files.h"
#include "base/json_fields.h"
#include "base/log.h"

namespace pp::providers::gcp {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
constexpr const char* kLog = "gcp";
constexpr size_t kMaxTokenResponse = 64 << 10;

std::string b64url(std::string_view data) {
  std::string s = encoding::base64UrlEncode(data);
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

}  // namespace

// Reads a token endpoint's answer: {access_token, expires_in, token_type: Bearer}.
Result<AccessToken> parseTokenResponse(const net::HttpResponse& r, const std::string& where,
                                       std::chrono::system_clock::time_point now) {
  json j = json::parse(r.body, nullptr, false);
  if (!r.ok()) {
    std::string detail;
    if (j.is_object()) {
      detail = jsonf::stringField(j, "error");
      if (auto d = jsonf::stringField(j, "error_description"); !d.empty()) detail += ": " + d;
    }
    if (detail.size() > 300) detail.resize(300);
    Code code = r.status == 400 || r.status == 401 || r.status == 403 ? Code::kUnauthenticated
                : r.status == 429 || r.status >= 500                  ? Code::kUnavailable
                                                                      : Code::kUnknown;
    return fail(code, "token request to " + where + " failed: HTTP " + std::to_string(r.status) +
                          (detail.empty() ? std::string() : " (" + detail + ")"));
  }
  if (!j.is_object())
    return fail(Code::kInternal, "token response from " + where + " is not a JSON object");
  std::string token = jsonf::stringField(j, "access_token");
  auto exp = j.find("expires_in");
  if (token.empty() || token.size() > 8192)
    return fail(Code::kInternal, "token response from " + where + " has no usable access_token");
  if (exp == j.end() || !exp->is_number_integer() || exp->get<int64_t>() <= 0 ||
      exp->get<int64_t>() > 86400 * 7)
    return fail(Code::kInternal, "token response from " + where + " has no valid expires_in");
  if (auto type = jsonf::stringField(j, "token_type"); !type.empty() && type != "Bearer")
    return fail(Code::kInternal, "token response from " + where + " has token_type " + type);
  return AccessToken{token, now + std::chrono::seconds(exp->get<int64_t>())};
}

Result<ServiceAccountKey> parseServiceAccountKey(std::string_view text) {
  if (text.size() > (64 << 10))
    return fail(Code::kInvalidArgument, "GCP credentials: larger than 64 KiB");
  json j = json::parse(text, nullptr, false);
  if (!j.is_object())
    return fail(Code::kInvalidArgument,
                "GCP credentials: not a JSON object (expected a service account key file)");
  std::string type = jsonf::stringField(j, "type");
  if (type != "service_account") {
    return fail(Code::kInvalidArgument,
                "GCP credentials: type is \"" + type.substr(0, 40) +
                    "\"; only service account keys (\"service_account\") are supported, or leave "
                    "-gcp-credentials empty to use the metadata server");
  }
  ServiceAccountKey k;
  k.clientEmail = jsonf::stringField(j, "client_email");
  k.privateKeyId = jsonf::stringField(j, "private_key_id");
  k.privateKeyPem = jsonf::stringField(j, "private_key");
  k.tokenUri = jsonf::stringField(j, "token_uri");
  k.projectId = jsonf::stringField(j, "project_id");
  if (k.tokenUri.empty()) k.tokenUri = kDefaultTokenUri;
  if (k.clientEmail.empty())
    return fail(Code::kInvalidArgument, "GCP credentials: client_email is missing");
  if (k.privateKeyPem.empty())
    return fail(Code::kInvalidArgument, "GCP credentials: private_key is missing");
  if (k.tokenUri.rfind("https://", 0) != 0 && k.tokenUri.rfind("http://", 0) != 0)
    return fail(Code::kInvalidArgument, "GCP credentials: token_uri is not an http(s) URL");
  // Check the key loads now, so that a bad key fails at start rather than at the first pod.
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(k.privateKeyPem.data(), static_cast<int>(k.privateKeyPem.size())), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr, EVP_PKEY_free);
  if (!pkey || EVP_PKEY_get_base_id(pkey.get()) != EVP_PKEY_RSA)
    return fail(Code::kInvalidArgument,
                "GCP credentials: private_key is not a PEM RSA private key");
  return k;
}

Result<std::string> makeJwtAssertion(const ServiceAccountKey& key, const std::string& scope,
                                     std::chrono::system_clock::time_point now) {
  int64_t iat = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  json header = {{"alg", "RS256"}, {"typ", "JWT"}};
  if (!key.privateKeyId.empty()) header["kid"] = key.privateKeyId;
  json claims = {{"iss", key.clientEmail},
                 {"scope", scope},
                 {"aud", key.tokenUri},
                 {"iat", iat},
                 {"exp", iat + 3600}};
  std::string input = b64url(header.dump()) + "." + b64url(claims.dump());

  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(key.privateKeyPem.data(), static_cast<int>(key.privateKeyPem.size())),
      BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr, EVP_PKEY_free);
  if (!pkey) return fail(Code::kInvalidArgument, "GCP credentials: cannot load the private key");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    return fail(Code::kInternal, "GCP credentials: signing the JWT failed");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return fail(Code::kInternal, "GCP credentials: signing the JWT failed");
  }
  sig.resize(len);
  return input + "." + b64url(sig);
}

ServiceAccountTokenSource::ServiceAccountTokenSource(net::HttpClient http, ServiceAccountKey key,
                                                     std::string scope, std::string tokenEndpoint,
                                                     Clock clock)
    : TokenSource(kLog, std::move(clock)),
      http_(std::move(http)),
      key_(std::move(key)),
      scope_(std::move(scope)),
      endpoint_(tokenEndpoint.empty() ? key_.tokenUri : std::move(tokenEndpoint)) {}

std::string ServiceAccountTokenSource::describe() const {
  return "service account " + key_.clientEmail;
}

Result<AccessToken> ServiceAccountTokenSource::fetch(std::chrono::system_clock::time_point now) {
  auto jwt = makeJwtAssertion(key_, scope_, now);
  if (!jwt) return fail(jwt.error());
  net::HttpRequest req;
  req.method = "POST";
  req.url = endpoint_;
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  req.body = "grant_type=" + net::urlEncode("urn:ietf:params:oauth:grant-type:jwt-bearer") +
             "&assertion=" + net::urlEncode(*jwt);
  req.timeout = 30s;
  req.maxResponseBytes = kMaxTokenResponse;
  auto r = http_.send(req);
  if (!r) return fail(r.error().wrap("token request to " + endpoint_));
  return parseTokenResponse(*r, endpoint_, now);
}

MetadataTokenSource::MetadataTokenSource(net::HttpClient http, std::string host,
                                         std::string tokenUrl, Clock clock)
    : TokenSource(kLog, std::move(clock)), http_(std::move(http)) {
  if (host.empty()) host = kDefaultMetadataHost;
  url_ = !tokenUrl.empty()
             ? std::move(tokenUrl)
             : "http://" + host + "/computeMetadata/v1/instance/service-accounts/default/token";
}

Result<AccessToken> MetadataTokenSource::fetch(std::chrono::system_clock::time_point now) {
  net::HttpRequest req;
  req.url = url_;
  req.headers = {{"Metadata-Flavor", "Google"}};
  req.timeout = 10s;
  req.maxResponseBytes = kMaxTokenResponse;
  auto r = http_.send(req);
  if (!r) {
    return fail(r.error().wrap(
        "no GCP credentials: -gcp-credentials (GCP_CREDENTIALS) and GOOGLE_APPLICATION_CREDENTIALS "
        "are not set and the metadata server " +
        url_ + " did not answer"));
  }
  if (r->ok() && r->header("Metadata-Flavor") != "Google") {
    return fail(
        Code::kUnavailable,
        url_ + " answered without \"Metadata-Flavor: Google\"; it is not a GCE metadata server");
  }
  return parseTokenResponse(*r, url_, now);
}

Result<std::shared_ptr<TokenSource>> makeTokenSource(const TokenSourceInputs& in) {
  auto env = in.env ? in.env : flags::processEnv();
  Clock clock = in.clock ? in.clock : systemClock();
  std::string text = in.credentialsJson;
  std::string origin = "-gcp-credentials";
  // Upstream takes the key's JSON text; a path to the file is accepted as well.
  if (!text.empty() && text.find('{') == std::string::npos) {
    auto f = files::readFile(text, 64 << 10);
    if (!f) return fail(f.error().wrap("reading -gcp-credentials file"));
    text = std::move(*f);
  }
  if (text.empty()) {
    if (auto path = env("GOOGLE_APPLICATION_CREDENTIALS"); path && !path->empty()) {
      auto f = files::readFile(*path, 64 << 10);
      if (!f) return fail(f.error().wrap("reading GOOGLE_APPLICATION_CREDENTIALS"));
      text = std::move(*f);
      origin = "GOOGLE_APPLICATION_CREDENTIALS";
    }
  }
  if (!text.empty()) {
    auto key = parseServiceAccountKey(text);
    if (!key) return fail(key.error().wrap(origin));
    log::info(kLog, "credentials: service account {} ({})", key->clientEmail, origin);
    return std::shared_ptr<TokenSource>(std::make_shared<ServiceAccountTokenSource>(
        in.http, std::move(*key), in.scope, in.tokenEndpoint, clock));
  }
  std::string host = env("GCE_METADATA_HOST").value_or("");
  log::info(kLog, "credentials: the metadata server's default service account");
  return std::shared_ptr<TokenSource>(
      std::make_shared<MetadataTokenSource>(in.http, host, in.tokenEndpoint, clock));
}

}  // namespace pp::providers::gcp
