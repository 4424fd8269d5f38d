// Power Virtual Server REST API client (see powervs_client.h).
#include "providers/ibmcloud-powervs/powervs_client.h"

#include <cctype>

#include "base/json_fields.h"
#include "base/log.h"

namespace pp::providers::powervs {
namespace {

using json = nlohmann::json;
constexpr const char* kLog = "ibmcloud-powervs";
constexpr size_t kMaxMessage = 1000;

bool retryable(const PowerVsError& e) {
  if (e.credentials) return false;
  return e.httpStatus == 0 || e.httpStatus == 429 || e.httpStatus >= 500;
}

// PowerVS's error body: {"code": 400, "description": "...", "error": "bad request",
// "message": "..."}; the IBM Cloud gateway's: {"errors": [{"code", "message"}], "trace"}.
PowerVsError parseError(const net::HttpResponse& r) {
  PowerVsError e;
  e.httpStatus = r.status;
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object()) {
    e.code = jsonf::stringField(j, "error");
    e.message = jsonf::stringField(j, "description");
    std::string m = jsonf::stringField(j, "message");
    if (e.message.empty()) {
      e.message = m;
    } else if (!m.empty() && m != e.message) {
      e.message += " (" + m + ")";
    }
    if (const json* errs = jsonf::member(j, "errors"); errs && errs->is_array() && !errs->empty()) {
      if (e.code.empty()) e.code = jsonf::stringField((*errs)[0], "code");
      if (e.message.empty()) e.message = jsonf::stringField((*errs)[0], "message");
    }
    // IAM Identity: {"errorCode", "errorMessage"}.
    if (e.code.empty()) e.code = jsonf::stringField(j, "errorCode");
    if (e.message.empty()) e.message = jsonf::stringField(j, "errorMessage");
  }
  if (e.message.empty()) e.message = r.body.substr(0, 200);
  if (e.message.size() > kMaxMessage) e.message.resize(kMaxMessage);
  if (e.code.size() > 200) e.code.resize(200);
  if (auto ra = r.header("Retry-After"); !ra.empty()) e.retryAfter = parseRetryAfter(ra);
  return e;
}

}  // namespace

PowerVsError parsePowerVsError(const net::HttpResponse& response) {
  return parseError(response);
}

namespace {

bool isGone(long status) {
  return status == 404 || status == 410;
}

// The bearer token for a call. One that cannot be had is an error that is retried when IAM is
// down or throttling and final when IAM refuses the key.
std::expected<std::string, PowerVsError> bearer(BearerTokenCache& tokens) {
  auto token = tokens.token();
  if (token) return *token;
  Code c = token.error().code;
  PowerVsError e;
  e.message = token.error().message;
  e.credentials =
      c != Code::kUnavailable && c != Code::kDeadlineExceeded && c != Code::kResourceExhausted;
  return std::unexpected(e);
}

// A required string member; nullopt when absent or not a string.
std::optional<std::string> requiredString(const json& j, const char* key) {
  const json* v = jsonf::member(j, key);
  if (!v || !v->is_string()) return std::nullopt;
  return v->get<std::string>();
}

std::optional<std::vector<PvmNetwork>> parseNetworks(const json& j) {
  std::vector<PvmNetwork> out;
  const json* nets = jsonf::member(j, "networks");
  if (!nets || nets->is_null()) nets = jsonf::member(j, "addresses");
  if (!nets || nets->is_null()) return out;
  if (!nets->is_array()) return std::nullopt;
  for (const auto& n : *nets) {
    if (!n.is_object()) return std::nullopt;
    PvmNetwork x;
    x.networkId = jsonf::stringField(n, "networkID");
    x.ipAddress = jsonf::stringField(n, "ipAddress");
    if (x.ipAddress.empty()) x.ipAddress = jsonf::stringField(n, "ip");
    x.externalIp = jsonf::stringField(n, "externalIP");
    x.macAddress = jsonf::stringField(n, "macAddress");
    x.type = jsonf::stringField(n, "type");
    out.push_back(std::move(x));
  }
  return out;
}

}  // namespace

std::string regionFromZone(std::string_view zone) {
  std::string z(zone);
  size_t end = z.size();
  while (end > 0 && std::isdigit(static_cast<unsigned char>(z[end - 1]))) --end;
  if (z.find('-') != std::string::npos) {
    // Only "-<digits>" at the end goes: "eu-de-1" -> "eu-de"; "us-south" stays.
    if (end < z.size() && end > 0 && z[end - 1] == '-') return z.substr(0, end - 1);
    return z;
  }
  return z.substr(0, end);
}

std::string defaultEndpoint(std::string_view zone) {
  return "https://" + regionFromZone(zone) + ".power-iaas.cloud.ibm.com";
}

std::string normalizeEndpoint(std::string_view endpoint) {
  std::string e(endpoint);
  while (!e.empty() && e.back() == '/') e.pop_back();
  if (!e.empty() && e.find("://") == std::string::npos) e = "https://" + e;
  return e;
}

std::string workspaceCrn(std::string_view zone, std::string_view accountId,
                         std::string_view serviceInstanceId) {
  return "crn:v1:bluemix:public:power-iaas:" + std::string(zone) + ":a/" + std::string(accountId) +
         ":" + std::string(serviceInstanceId) + "::";
}

Error PowerVsError::toError(const std::string& context) const {
  Code code = net::codeForHttpStatus(httpStatus, Code::kUnknown);
  if (httpStatus == 0) code = credentials ? Code::kUnauthenticated : Code::kUnavailable;
  if (httpStatus == 409) code = Code::kFailedPrecondition;  // busy / name in use
  if (httpStatus == 422) code = Code::kInvalidArgument;
  if (httpStatus == 504 || httpStatus == 408) code = Code::kDeadlineExceeded;
  std::string m = context + ": ";
  if (httpStatus != 0) {
    m += "HTTP " + std::to_string(httpStatus);
    if (!this->code.empty()) m += " " + this->code;
    m += ": ";
  }
  m += message;
  return Error{code, m};
}

std::optional<PvmInstance> parseInstance(const json& j) {
  if (!j.is_object()) return std::nullopt;
  auto id = requiredString(j, "pvmInstanceID");
  auto name = requiredString(j, "serverName");
  if (!id || id->empty() || !name) return std::nullopt;
  PvmInstance i;
  i.id = *id;
  i.name = *name;
  i.status = jsonf::stringField(j, "status");
  if (const json* f = jsonf::member(j, "fault"); f && f->is_object()) {
    i.fault = jsonf::stringField(*f, "message");
    std::string d = jsonf::stringField(*f, "details");
    if (!d.empty()) i.fault += (i.fault.empty() ? "" : ": ") + d;
    if (i.fault.size() > kMaxMessage) i.fault.resize(kMaxMessage);
  }
  auto nets = parseNetworks(j);
  if (!nets) return std::nullopt;
  i.networks = std::move(*nets);
  return i;
}

std::optional<DhcpServer> parseDhcpServer(const json& j) {
  if (!j.is_object()) return std::nullopt;
  auto id = requiredString(j, "id");
  const json* net = jsonf::member(j, "network");
  if (!id || id->empty() || !net || !net->is_object()) return std::nullopt;
  auto netId = requiredString(*net, "id");
  if (!netId) return std::nullopt;
  DhcpServer s;
  s.id = *id;
  s.networkId = *netId;
  s.status = jsonf::stringField(j, "status");
  if (const json* leases = jsonf::member(j, "leases"); leases && !leases->is_null()) {
    if (!leases->is_array()) return std::nullopt;
    for (const auto& l : *leases) {
      auto ip = requiredString(l, "instanceIP");
      auto mac = requiredString(l, "instanceMacAddress");
      if (!ip || !mac) return std::nullopt;
      s.leases.push_back({*ip, *mac});
    }
  }
  return s;
}

PowerVsClient::PowerVsClient(net::HttpClient http, std::shared_ptr<BearerTokenCache> tokens,
                             PowerVsClientOptions options)
    : http_(std::move(http)),
      tokens_(std::move(tokens)),
      options_(std::move(options)),
      calls_(options_.retry, options_.sleep, options_.mutatingCallsPerSecond) {
  options_.endpoint = normalizeEndpoint(options_.endpoint);
}

std::expected<json, PowerVsError> PowerVsClient::attempt(const std::string& method,
                                                         const std::string& url,
                                                         const std::string& body) {
  auto token = bearer(*tokens_);
  if (!token) return std::unexpected(token.error());
  net::HttpRequest req;
  req.method = method;
  req.url = url;
  req.headers = {
      {"Authorization", "Bearer " + *token}, {"CRN", options_.crn}, {"Accept", "application/json"}};
  if (!body.empty()) {
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = body;
  }
  req.timeout = options_.timeout;
  req.maxResponseBytes = 16 << 20;
  auto r = http_.send(req);
  if (!r) return std::unexpected(PowerVsError{0, "", r.error().message, {}, false});
  if (!r->ok()) return std::unexpected(parseError(*r));
  json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded() || !(j.is_object() || j.is_array())) {
    return std::unexpected(
        PowerVsError{r->status, "bad response", "the answer is not a JSON document", {}, false});
  }
  return j;
}

std::expected<json, PowerVsError> PowerVsClient::call(const std::string& method,
                                                      const std::string& path, const json* body,
                                                      bool mutating) {
  std::string url = options_.endpoint + "/pcloud/v1/cloud-instances/" +
                    net::urlEncode(options_.serviceInstanceId) + path;
  std::string payload = body ? body->dump() : std::string();
  bool refreshed = false;
  auto once = [&]() -> std::expected<json, PowerVsError> {
    auto r = attempt(method, url, payload);
    if (!r) refreshAfter401(r.error(), refreshed, *tokens_);
    return r;
  };
  auto classify = [&](const PowerVsError& e) -> RetryVerdict {
    // A delete of an instance that is still building answers 409 until the build is over.
    bool busy = method == "DELETE" && e.httpStatus == 409;
    if (!retryable(e) && !busy) return {};
    log::warn(kLog, "{} {}: {} (retrying)", method, path,
              e.httpStatus ? "HTTP " + std::to_string(e.httpStatus) + " " + e.code : e.message);
    return {true, e.retryAfter};
  };
  return calls_.run(mutating, once, classify);
}

Result<PvmInstance> PowerVsClient::createInstance(const json& body, bool& mayExist) {
  std::string name = jsonf::stringField(body, "serverName");
  mayExist = false;
  bool refreshed = false;
  auto once = [&]() -> std::expected<PvmInstance, PowerVsError> {
    if (mayExist) {
      // The previous POST's answer was lost: it may have made the instance.
      auto found = findByName(name);
      if (!found) return std::unexpected(PowerVsError{0, "", found.error().message, {}, false});
      if (*found) {
        log::info(kLog, "instance {} ({}) was made by an earlier attempt whose answer was lost",
                  name, (*found)->id);
        return **found;
      }
    }
    std::string url = options_.endpoint + "/pcloud/v1/cloud-instances/" +
                      net::urlEncode(options_.serviceInstanceId) + "/pvm-instances";
    auto r = attempt("POST", url, body.dump());
    // A refused token made nothing: fetch a new one and post again at once.
    if (!r && refreshAfter401(r.error(), refreshed, *tokens_)) return std::unexpected(r.error());
    if (!r && (r.error().httpStatus == 0 || r.error().httpStatus >= 500) && !r.error().credentials)
      mayExist = true;
    if (!r) return std::unexpected(r.error());
    const json& list = *r;
    if (!list.is_array() || list.empty()) {
      mayExist = true;
      return std::unexpected(PowerVsError{
          502, "bad response", "the create answer is not a non-empty instance list", {}, false});
    }
    auto i = parseInstance(list[0]);
    if (!i) {
      mayExist = true;
      return std::unexpected(PowerVsError{502,
                                          "bad response",
                                          "the created instance has no pvmInstanceID or serverName",
                                          {},
                                          false});
    }
    return *i;
  };
  auto classify = [&](const PowerVsError& e) -> RetryVerdict {
    if (!retryable(e)) return {};
    log::warn(kLog, "POST pvm-instances {}: {} (retrying)", name,
              e.httpStatus ? "HTTP " + std::to_string(e.httpStatus) + " " + e.code : e.message);
    return {true, e.retryAfter};
  };
  auto r = calls_.run(true, once, classify);
  if (!r) return fail(r.error().toError("powervs: creating instance " + name));
  return *r;
}

Result<std::optional<PvmInstance>> PowerVsClient::findByName(const std::string& name) {
  auto all = listInstances();
  if (!all) return fail(all.error());
  std::optional<PvmInstance> out;
  for (auto& i : *all)
    if (i.name == name) out = std::move(i);
  return out;
}

Result<PvmInstance> PowerVsClient::getInstance(const std::string& id) {
  auto r = call("GET", "/pvm-instances/" + net::urlEncode(id), nullptr, false);
  if (!r) return fail(r.error().toError("powervs: getting instance " + id));
  auto i = parseInstance(*r);
  if (!i)
    return fail(Code::kInternal,
                "powervs: getting instance " + id + ": the answer is not a PVMInstance");
  return *i;
}

Result<std::vector<PvmInstance>> PowerVsClient::listInstances() {
  auto r = call("GET", "/pvm-instances", nullptr, false);
  if (!r) return fail(r.error().toError("powervs: listing instances"));
  const json* list = jsonf::member(*r, "pvmInstances");
  if (!list || !list->is_array())
    return fail(Code::kInternal,
                "powervs: listing instances: the answer has no pvmInstances array");
  std::vector<PvmInstance> out;
  for (const auto& it : *list) {
    auto i = parseInstance(it);
    if (!i)
      return fail(Code::kInternal,
                  "powervs: listing instances: an entry has no pvmInstanceID or serverName");
    out.push_back(std::move(*i));
  }
  return out;
}

Status PowerVsClient::deleteInstance(const std::string& id) {
  auto r = call("DELETE", "/pvm-instances/" + net::urlEncode(id), nullptr, true);
  if (!r) {
    if (isGone(r.error().httpStatus)) return {};
    return fail(r.error().toError("powervs: deleting instance " + id));
  }
  return {};
}

Result<std::vector<DhcpServer>> PowerVsClient::listDhcpServers() {
  auto r = call("GET", "/services/dhcp", nullptr, false);
  if (!r) return fail(r.error().toError("powervs: listing DHCP servers"));
  if (!r->is_array())
    return fail(Code::kInternal, "powervs: listing DHCP servers: the answer is not an array");
  std::vector<DhcpServer> out;
  for (const auto& it : *r) {
    auto s = parseDhcpServer(it);
    if (!s)
      return fail(Code::kInternal, "powervs: listing DHCP servers: an entry has no id or network");
    out.push_back(std::move(*s));
  }
  return out;
}

Result<DhcpServer> PowerVsClient::getDhcpServer(const std::string& id) {
  auto r = call("GET", "/services/dhcp/" + net::urlEncode(id), nullptr, false);
  if (!r) return fail(r.error().toError("powervs: getting DHCP server " + id));
  auto s = parseDhcpServer(*r);
  if (!s)
    return fail(Code::kInternal, "powervs: DHCP server " + id +
                                     ": the answer lacks id or network, or has malformed leases");
  return *s;
}

Result<json> PowerVsClient::getNetwork(const std::string& id) {
  auto r = call("GET", "/networks/" + net::urlEncode(id), nullptr, false);
  if (!r) return fail(r.error().toError("powervs: getting network " + id));
  return *r;
}

Result<json> PowerVsClient::getImage(const std::string& id) {
  auto r = call("GET", "/images/" + net::urlEncode(id), nullptr, false);
  if (!r) return fail(r.error().toError("powervs: getting image " + id));
  return *r;
}

Result<std::string> lookupAccountId(const net::HttpClient& http, BearerTokenCache& tokens,
                                    const std::string& iamBaseUrl, const std::string& apiKey,
                                    const RetryPolicy& retry, const Retrier::Sleep& sleep) {
  std::string url = normalizeEndpoint(iamBaseUrl) + "/v1/apikeys/details";
  Retrier retrier(retry, sleep);
  bool refreshed = false;
  auto once = [&]() -> std::expected<std::string, PowerVsError> {
    auto token = bearer(tokens);
    if (!token) return std::unexpected(token.error());
    net::HttpRequest req;
    req.url = url;
    req.headers = {{"Authorization", "Bearer " + *token},
                   {"IAM-Apikey", apiKey},
                   {"Accept", "application/json"}};
    req.maxResponseBytes = 1 << 20;
    auto r = http.send(req);
    if (!r) return std::unexpected(PowerVsError{0, "", r.error().message, {}, false});
    if (!r->ok()) {
      auto e = parseError(*r);
      refreshAfter401(e, refreshed, tokens);
      return std::unexpected(e);
    }
    json j = json::parse(r->body, nullptr, false);
    auto account = requiredString(j, "account_id");
    if (!account || account->empty() || account->size() > 128)
      return std::unexpected(
          PowerVsError{r->status, "bad response", "the answer has no account_id", {}, false});
    return *account;
  };
  auto classify = [](const PowerVsError& e) -> RetryVerdict {
    if (!retryable(e)) return {};
    return {true, e.retryAfter};
  };
  auto r = retrier.run(once, classify);
  if (!r)
    return fail(r.error().toError("powervs: looking up the API key's account (IAM Identity)"));
  return *r;
}

}  // namespace pp::providers::powervs
