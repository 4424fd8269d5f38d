// IBM Cloud VPC and Global Tagging API client (see vpc_client.h).
#include "providers/ibmcloud/vpc_client.h"

#include <cctype>

#include "base/json_fields.h"
#include "base/log.h"

namespace pp::providers::ibmcloud {
namespace {

using json = nlohmann::json;
constexpr const char* kLog = "ibmcloud";
constexpr int kMaxPages = 50;

bool retryable(const IbmError& e) {
  return (e.httpStatus == 0 && e.code != "credentials") || e.httpStatus == 429 ||
         e.httpStatus >= 500;
}

IbmError parseError(const net::HttpResponse& r) {
  IbmError e;
  e.httpStatus = r.status;
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object()) {
    if (auto errs = j.find("errors"); errs != j.end() && errs->is_array()) {
      for (size_t i = 0; i < errs->size() && i < 5; ++i) {
        const json& err = (*errs)[i];
        if (i == 0) e.code = jsonf::stringField(err, "code");
        std::string m = jsonf::stringField(err, "message");
        if (i > 0 && !m.empty()) m = jsonf::stringField(err, "code") + ": " + m;
        if (!m.empty()) e.message += (e.message.empty() ? "" : "; ") + m;
      }
    }
    e.trace = jsonf::stringField(j, "trace");
  }
  if (e.message.empty()) e.message = r.body.substr(0, 200);
  if (e.message.size() > 1000) e.message.resize(1000);
  if (e.trace.size() > 100) e.trace.resize(100);
  if (auto ra = r.header("Retry-After"); !ra.empty()) e.retryAfter = parseRetryAfter(ra);
  return e;
}

// A string field that must be there.
std::string str(const json& j, std::initializer_list<std::string_view> path) {
  return jsonf::stringAt(j, path);
}

std::optional<uint32_t> fixedValue(const json& j, const char* name) {
  if (!j.is_object()) return std::nullopt;
  auto it = j.find(name);
  if (it == j.end() || !it->is_object()) return std::nullopt;
  auto v = it->find("value");
  if (v == it->end() || !v->is_number_integer()) return std::nullopt;
  int64_t n = v->get<int64_t>();
  if (n <= 0 || n > (1 << 22)) return std::nullopt;
  return static_cast<uint32_t>(n);
}

// A query value from an href: %XX escapes and '+' decoded (bad escapes kept as they are).
std::string decodeQueryValue(std::string_view v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '+') {
      out += ' ';
    } else if (v[i] == '%' && i + 2 < v.size() &&
               std::isxdigit(static_cast<unsigned char>(v[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(v[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(v.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += v[i];
    }
  }
  return out;
}

}  // namespace

IbmError parseIbmError(const net::HttpResponse& response) {
  return parseError(response);
}

Error IbmError::toError(const std::string& context) const {
  Code c = net::codeForHttpStatus(httpStatus, Code::kUnknown);
  if (httpStatus == 0) c = code == "credentials" ? Code::kUnauthenticated : Code::kUnavailable;
  std::string m = context + ": ";
  if (httpStatus != 0) {
    m += "HTTP " + std::to_string(httpStatus);
    if (!code.empty()) m += " " + code;
    m += ": ";
  }
  m += message;
  if (!trace.empty()) m += " (trace " + trace + ")";
  return Error{c, m};
}

std::optional<VpcInstance> parseInstance(const json& j) {
  VpcInstance i;
  i.id = jsonf::stringField(j, "id");
  if (i.id.empty()) return std::nullopt;
  i.crn = jsonf::stringField(j, "crn");
  i.name = jsonf::stringField(j, "name");
  i.status = jsonf::stringField(j, "status");
  std::string primaryId = str(j, {"primary_network_interface", "id"});
  i.nicIps.push_back(str(j, {"primary_network_interface", "primary_ip", "address"}));
  if (auto nics = j.find("network_interfaces"); nics != j.end() && nics->is_array()) {
    for (const auto& nic : *nics) {
      std::string id = jsonf::stringField(nic, "id");
      if (!id.empty() && id == primaryId) continue;
      i.nicIps.push_back(str(nic, {"primary_ip", "address"}));
    }
  }
  return i;
}

VpcClient::VpcClient(net::HttpClient http, std::shared_ptr<BearerTokenCache> tokens,
                     VpcClientOptions options)
    : http_(std::move(http)),
      tokens_(std::move(tokens)),
      options_(std::move(options)),
      calls_(options_.retry, options_.sleep, options_.mutatingCallsPerSecond) {
  for (auto* u : {&options_.vpcUrl, &options_.taggingUrl})
    while (!u->empty() && u->back() == '/') u->pop_back();
}

std::expected<json, IbmError> VpcClient::attempt(const std::string& method, const std::string& url,
                                                 const std::string& body) {
  auto token = tokens_->token();
  if (!token) {
    // An IAM endpoint that is down or throttling is retried like the API (the token source
    // has retried already); a refused credential is final.
    bool transient =
        token.error().code == Code::kUnavailable || token.error().code == Code::kDeadlineExceeded;
    return std::unexpected(
        IbmError{0, transient ? "" : "credentials", token.error().message, "", {}});
  }
  net::HttpRequest req;
  req.method = method;
  req.url = url;
  req.headers = {{"Authorization", "Bearer " + *token}, {"Accept", "application/json"}};
  if (!body.empty()) {
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = body;
  }
  req.timeout = options_.timeout;
  req.maxResponseBytes = 8 << 20;
  auto r = http_.send(req);
  if (!r) return std::unexpected(IbmError{0, "", r.error().message, "", {}});
  if (!r->ok()) return std::unexpected(parseError(*r));
  if (r->status == 204 || r->body.empty()) return json::object();
  json j = json::parse(r->body, nullptr, false);
  if (!j.is_object())
    return std::unexpected(
        IbmError{r->status, "bad_response", "the answer is not a JSON object", "", {}});
  return j;
}

std::expected<json, IbmError> VpcClient::call(const std::string& method, const std::string& url,
                                              const json* body, bool mutating, int* attempts) {
  std::string payload = body ? body->dump() : std::string();
  bool refreshed = false;
  int sent = 0;
  auto once = [&]() -> std::expected<json, IbmError> {
    ++sent;
    auto r = attempt(method, url, payload);
    if (!r) refreshAfter401(r.error(), refreshed, *tokens_);
    return r;
  };
  auto classify = [&](const IbmError& e) -> RetryVerdict {
    if (!retryable(e)) return {};
    log::warn(kLog, "{} {}: {} (retrying)", method, url.substr(0, url.find('?')),
              e.httpStatus ? "HTTP " + std::to_string(e.httpStatus) + " " + e.code : e.message);
    return {true, e.retryAfter};
  };
  auto r = calls_.run(mutating, once, classify);
  if (attempts) *attempts = sent;
  return r;
}

std::expected<json, IbmError> VpcClient::vpcCall(const std::string& method, const std::string& path,
                                                 const std::string& query, const json* body,
                                                 bool mutating, int* attempts) {
  std::string url = options_.vpcUrl + path + "?version=" + kVpcApiVersion + "&generation=2";
  if (!query.empty()) url += "&" + query;
  return call(method, url, body, mutating, attempts);
}

std::expected<VpcInstance, IbmError> VpcClient::createInstance(const json& prototype,
                                                               int* attempts) {
  auto r = vpcCall("POST", "/instances", "", &prototype, true, attempts);
  if (!r) return std::unexpected(r.error());
  auto i = parseInstance(*r);
  if (!i)
    return std::unexpected(IbmError{201, "bad_response", "the created instance has no id", "", {}});
  return *i;
}

std::expected<VpcInstance, IbmError> VpcClient::getInstance(const std::string& id) {
  auto r = vpcCall("GET", "/instances/" + net::urlEncode(id), "", nullptr, false);
  if (!r) return std::unexpected(r.error());
  auto i = parseInstance(*r);
  if (!i)
    return std::unexpected(IbmError{200, "bad_response", "instance answer without id", "", {}});
  return *i;
}

std::expected<void, IbmError> VpcClient::deleteInstance(const std::string& id) {
  auto r = vpcCall("DELETE", "/instances/" + net::urlEncode(id), "", nullptr, true);
  if (!r && r.error().httpStatus != 404) return std::unexpected(r.error());
  return {};
}

std::expected<std::vector<VpcInstance>, IbmError> VpcClient::listInstances(
    const std::string& filters) {
  std::vector<VpcInstance> out;
  std::string start;
  for (int page = 0; page < kMaxPages; ++page) {
    std::string q = "limit=100";
    if (!filters.empty()) q += "&" + filters;
    if (!start.empty()) q += "&start=" + net::urlEncode(start);
    auto r = vpcCall("GET", "/instances", q, nullptr, false);
    if (!r) return std::unexpected(r.error());
    auto items = r->find("instances");
    if (items == r->end() || !items->is_array())
      return std::unexpected(
          IbmError{200, "bad_response", "instance list without instances", "", {}});
    for (const auto& item : *items)
      if (auto i = parseInstance(item)) out.push_back(std::move(*i));
    // The next page's token is the `start` query parameter of next.href.
    std::string next = str(*r, {"next", "href"});
    if (next.empty()) return out;
    auto pos = next.find("start=");
    if (pos == std::string::npos || (pos > 0 && next[pos - 1] != '?' && next[pos - 1] != '&'))
      return std::unexpected(IbmError{200, "bad_response", "next.href without start", "", {}});
    std::string token = next.substr(pos + 6, next.find('&', pos) == std::string::npos
                                                 ? std::string::npos
                                                 : next.find('&', pos) - pos - 6);
    start = decodeQueryValue(token);
  }
  return out;
}

std::expected<VpcProfile, IbmError> VpcClient::getProfile(const std::string& name) {
  auto r = vpcCall("GET", "/instance/profiles/" + net::urlEncode(name), "", nullptr, false);
  if (!r) return std::unexpected(r.error());
  VpcProfile p;
  p.name = jsonf::stringField(*r, "name");
  auto cpus = fixedValue(*r, "vcpu_count");
  auto mem = fixedValue(*r, "memory");
  p.architecture = str(*r, {"vcpu_architecture", "value"});
  if (!cpus || !mem || p.architecture.empty() || *mem > (1u << 22) / 1024 * 1024)
    return std::unexpected(IbmError{200,
                                    "bad_response",
                                    "profile " + name +
                                        " answer lacks a fixed vcpu_count, memory or "
                                        "vcpu_architecture value",
                                    "",
                                    {}});
  p.vcpus = *cpus;
  p.memoryMiB = *mem * 1024;  // GiB
  if (p.name.empty()) p.name = name;
  return p;
}

std::expected<VpcImage, IbmError> VpcClient::getImage(const std::string& id) {
  auto r = vpcCall("GET", "/images/" + net::urlEncode(id), "", nullptr, false);
  if (!r) return std::unexpected(r.error());
  VpcImage i;
  i.id = jsonf::stringField(*r, "id");
  i.status = jsonf::stringField(*r, "status");
  i.architecture = str(*r, {"operating_system", "architecture"});
  i.os = str(*r, {"operating_system", "name"});
  if (i.id.empty() || i.architecture.empty())
    return std::unexpected(
        IbmError{200,
                 "bad_response",
                 "image " + id + " answer lacks id or operating_system.architecture",
                 "",
                 {}});
  return i;
}

std::expected<VpcSubnet, IbmError> VpcClient::getSubnet(const std::string& id) {
  auto r = vpcCall("GET", "/subnets/" + net::urlEncode(id), "", nullptr, false);
  if (!r) return std::unexpected(r.error());
  VpcSubnet s{jsonf::stringField(*r, "id"), str(*r, {"vpc", "id"}),
              str(*r, {"resource_group", "id"}), str(*r, {"zone", "name"})};
  if (s.vpcId.empty() || s.resourceGroupId.empty())
    return std::unexpected(IbmError{
        200, "bad_response", "subnet " + id + " answer lacks vpc.id or resource_group.id", "", {}});
  return s;
}

std::expected<std::string, IbmError> VpcClient::defaultSecurityGroup(const std::string& vpcId) {
  auto r = vpcCall("GET", "/vpcs/" + net::urlEncode(vpcId) + "/default_security_group", "", nullptr,
                   false);
  if (!r) return std::unexpected(r.error());
  std::string id = jsonf::stringField(*r, "id");
  if (id.empty())
    return std::unexpected(
        IbmError{200, "bad_response", "default security group without id", "", {}});
  return id;
}

std::expected<void, IbmError> VpcClient::attachTags(const std::string& crn,
                                                    const std::vector<std::string>& tags) {
  json body = {{"resources", json::array({{{"resource_id", crn}}})}, {"tag_names", tags}};
  auto r =
      call("POST", options_.taggingUrl + "/v3/tags/attach?tag_type=user", &body, true, nullptr);
  if (!r) return std::unexpected(r.error());
  auto results = r->find("results");
  if (results == r->end() || !results->is_array())
    return std::unexpected(IbmError{200, "bad_response", "attach answer without results", "", {}});
  bool found = false;
  for (const auto& res : *results) {
    if (!res.is_object()) continue;
    if (jsonf::stringField(res, "resource_id") == crn) found = true;
    auto e = res.find("is_error");
    if (e != res.end() && e->is_boolean() && e->get<bool>()) {
      return std::unexpected(IbmError{200,
                                      "tag_attach_failed",
                                      "Global Tagging reported an error attaching tags to " + crn,
                                      "",
                                      {}});
    }
  }
  if (!found)
    return std::unexpected(
        IbmError{200, "bad_response", "attach answer does not name the resource " + crn, "", {}});
  return {};
}

std::expected<std::vector<std::string>, IbmError> VpcClient::tagsOf(const std::string& crn) {
  auto r = call(
      "GET",
      options_.taggingUrl + "/v3/tags?tag_type=user&limit=1000&attached_to=" + net::urlEncode(crn),
      nullptr, false, nullptr);
  if (!r) return std::unexpected(r.error());
  auto items = r->find("items");
  if (items == r->end() || !items->is_array())
    return std::unexpected(IbmError{200, "bad_response", "tag list without items", "", {}});
  std::vector<std::string> out;
  for (const auto& item : *items)
    if (auto n = jsonf::stringField(item, "name"); !n.empty()) out.push_back(n);
  return out;
}

}  // namespace pp::providers::ibmcloud
