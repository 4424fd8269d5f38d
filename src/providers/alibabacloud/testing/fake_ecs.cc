// The fake Alibaba Cloud endpoints of the alibabacloud tests (see fake_ecs.h).
#include "providers/alibabacloud/testing/fake_ecs.h"

#include <algorithm>
#include <stdexcept>

#include "base/encoding.h"
#include "base/strings.h"

namespace pp::providers::alibabacloud::testing {
namespace {

using json = nlohmann::json;
constexpr char kEcs[] = "2014-05-26";
constexpr char kVpc[] = "2016-04-28";

struct ActionSpec {
  const char* version;
  std::vector<const char*> required;
  std::vector<const char*> integers;
  std::vector<const char*> booleans;
};

const std::map<std::string, ActionSpec>& specs() {
  static const std::map<std::string, ActionSpec> s = {
      {"RunInstances",
       {kEcs,
        {"RegionId", "ImageId", "InstanceType", "VSwitchId"},
        {"Amount", "MinAmount", "InternetMaxBandwidthOut", "SystemDisk.Size"},
        {}}},
      {"DescribeInstances", {kEcs, {"RegionId"}, {"MaxResults", "PageSize", "PageNumber"}, {}}},
      {"DescribeInstanceTypes", {kEcs, {}, {"MaxResults"}, {}}},
      {"DeleteInstance", {kEcs, {"InstanceId"}, {}, {"Force", "TerminateSubscription", "DryRun"}}},
      {"CreateNetworkInterface", {kEcs, {"RegionId", "VSwitchId"}, {}, {}}},
      {"AttachNetworkInterface", {kEcs, {"RegionId", "InstanceId", "NetworkInterfaceId"}, {}, {}}},
      {"DescribeNetworkInterfaceAttribute", {kEcs, {"RegionId", "NetworkInterfaceId"}, {}, {}}},
      {"ModifyNetworkInterfaceAttribute",
       {kEcs, {"RegionId", "NetworkInterfaceId"}, {}, {"DeleteOnRelease"}}},
      {"DeleteNetworkInterface", {kEcs, {"RegionId", "NetworkInterfaceId"}, {}, {}}},
      {"DescribeNetworkInterfaces", {kEcs, {"RegionId"}, {"MaxResults"}, {}}},
      {"DescribeVSwitchAttributes", {kVpc, {"RegionId", "VSwitchId"}, {}, {}}},
      {"AllocateEipAddress", {kVpc, {"RegionId"}, {"Bandwidth"}, {}}},
      {"DescribeEipAddresses", {kVpc, {"RegionId"}, {"PageSize", "PageNumber"}, {}}},
      {"AssociateEipAddress", {kVpc, {"RegionId", "AllocationId", "InstanceId"}, {}, {}}},
      {"UnassociateEipAddress", {kVpc, {"RegionId", "AllocationId"}, {}, {"Force"}}},
      {"ReleaseEipAddress", {kVpc, {"RegionId", "AllocationId"}, {}, {}}},
  };
  return s;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

bool isInteger(const std::string& s) {
  return !s.empty() && s.size() < 12 && s.find_first_not_of("0123456789") == std::string::npos;
}

net::ServerResponse jsonResponse(int status, const json& j) {
  net::ServerResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json;charset=utf-8");
  r.body = j.dump();
  return r;
}

std::map<std::string, std::string> parseForm(const std::string& text, std::string* dup) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t amp = text.find('&', start);
    std::string item =
        text.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    start = amp == std::string::npos ? text.size() : amp + 1;
    if (item.empty()) continue;
    auto eq = item.find('=');
    std::string k = net::percentDecode(item.substr(0, eq), false);
    std::string v = eq == std::string::npos ? "" : net::percentDecode(item.substr(eq + 1), false);
    if (out.contains(k) && dup) *dup = k;
    out[k] = v;
  }
  return out;
}

}  // namespace

FakeEcs::FakeEcs(std::string region) : region_(std::move(region)) {
  net::HttpServerOptions o;
  o.name = "fake-alibabacloud";
  o.threads = 2;
  auto s = net::HttpServer::start(o, [this](const net::ServerRequest& r) { return handle(r); });
  if (!s) throw std::runtime_error("fake alibabacloud: " + s.error().message);
  server_ = std::move(*s);
  clock_ = systemClock();
}

FakeEcs::~FakeEcs() {
  server_->stop();
}
std::string FakeEcs::url() const {
  return server_->baseUrl();
}

void FakeEcs::addAccessKey(const std::string& id, const std::string& secret,
                           const std::string& token) {
  std::lock_guard l(mu_);
  keys_[id] = {secret, token};
}
void FakeEcs::addInstanceType(const std::string& name, int cpus, double memoryGiB, int gpus,
                              const std::string& gpuSpec) {
  std::lock_guard l(mu_);
  types_[name] = {
      {"InstanceTypeId", name},  {"CpuCoreCount", cpus},
      {"MemorySize", memoryGiB}, {"GPUAmount", gpus},
      {"GPUSpec", gpuSpec},      {"InstanceTypeFamily", name.substr(0, name.rfind('.'))}};
}
void FakeEcs::addVSwitch(const std::string& id, const std::string& vpcId) {
  std::lock_guard l(mu_);
  vswitches_[id] = vpcId;
}
void FakeEcs::failNext(const std::string& action, int status, const std::string& code,
                       const std::string& message, int times) {
  failures_.add(action, {status, code, message, ""}, times);
}
void FakeEcs::setCreateOnFailedRun(bool v) {
  std::lock_guard l(mu_);
  createOnFailedRun_ = v;
}
void FakeEcs::setAddressDelay(int polls) {
  std::lock_guard l(mu_);
  addressDelay_ = polls;
}
void FakeEcs::setOidc(const std::string& roleArn, const std::string& providerArn,
                      const std::string& oidcToken, const AcsCredentials& issued) {
  std::lock_guard l(mu_);
  oidcRole_ = roleArn;
  oidcProvider_ = providerArn;
  oidcToken_ = oidcToken;
  oidcIssued_ = issued;
  keys_[issued.accessKeyId] = {issued.accessKeySecret, issued.securityToken};
}
void FakeEcs::setRamRole(const std::string& role, const AcsCredentials& issued) {
  std::lock_guard l(mu_);
  ramRole_ = role;
  ramIssued_ = issued;
  keys_[issued.accessKeyId] = {issued.accessKeySecret, issued.securityToken};
}
void FakeEcs::setClock(Clock clock) {
  std::lock_guard l(mu_);
  clock_ = std::move(clock);
}

std::vector<FakeEcsCall> FakeEcs::calls(const std::string& action) const {
  return log_.select([&](const FakeEcsCall& c) { return action.empty() || c.action == action; });
}
std::vector<std::string> FakeEcs::problems() const {
  return log_.problems();
}
std::map<std::string, FakeEcsInstance> FakeEcs::instances() const {
  std::lock_guard l(mu_);
  return instances_;
}
std::map<std::string, FakeNic> FakeEcs::nics() const {
  std::lock_guard l(mu_);
  return nics_;
}
std::map<std::string, FakeEip> FakeEcs::eips() const {
  std::lock_guard l(mu_);
  return eips_;
}
int FakeEcs::stsCalls() const {
  std::lock_guard l(mu_);
  return stsCalls_;
}
int FakeEcs::metadataCredentialCalls() const {
  std::lock_guard l(mu_);
  return mdCalls_;
}
std::vector<std::string> FakeEcs::secrets() const {
  std::lock_guard l(mu_);
  std::vector<std::string> out;
  for (const auto& [id, k] : keys_) {
    out.push_back(k.secret);
    if (!k.token.empty()) out.push_back(k.token);
  }
  if (!oidcToken_.empty()) out.push_back(oidcToken_);
  return out;
}
void FakeEcs::problem(std::string text) {
  log_.problem(std::move(text));
}
std::string FakeEcs::requestId() {
  char buf[48];
  std::snprintf(buf, sizeof buf, "6D5F3C1E-0000-4000-8000-%012d", ++counter_);
  return buf;
}

net::ServerResponse FakeEcs::error(int status, const std::string& code,
                                   const std::string& message) {
  return jsonResponse(status, {{"RequestId", requestId()},
                               {"HostId", "ecs." + region_ + ".aliyuncs.com"},
                               {"Code", code},
                               {"Message", message},
                               {"Recommend", "https://api.aliyun.com/troubleshoot?q=" + code}});
}

net::ServerResponse FakeEcs::handle(const net::ServerRequest& req) {
  std::lock_guard l(mu_);
  if (req.path.rfind("/latest/", 0) == 0) return metadata(req);
  if (req.queryParam("Action").value_or("") == "AssumeRoleWithOIDC") return sts(req);
  return openApi(req);
}

net::ServerResponse FakeEcs::metadata(const net::ServerRequest& req) {
  if (req.path == "/latest/api/token") {
    if (req.method != "PUT") return {405, {}, "method not allowed", {}};
    auto ttl = req.header("X-aliyun-ecs-metadata-token-ttl-seconds");
    if (!isInteger(ttl)) {
      problem("metadata token request without a valid X-aliyun-ecs-metadata-token-ttl-seconds");
      return {400, {}, "bad ttl", {}};
    }
    std::string t = "mdtoken-" + std::to_string(++counter_);
    mdTokens_.insert(t);
    return {200, {}, t, {}};
  }
  if (req.method != "GET") return {405, {}, "method not allowed", {}};
  if (!mdTokens_.contains(req.header("X-aliyun-ecs-metadata-token"))) {
    problem("metadata request without an IMDSv2 token");
    return {401, {}, "token required", {}};
  }
  const std::string base = "/latest/meta-data/ram/security-credentials/";
  if (req.path == base) {
    if (ramRole_.empty()) return {404, {}, "no role", {}};
    return {200, {}, ramRole_, {}};
  }
  if (req.path.rfind(base, 0) == 0 && req.path.substr(base.size()) == ramRole_ &&
      !ramRole_.empty()) {
    ++mdCalls_;
    json j = {
        {"AccessKeyId", ramIssued_.accessKeyId},
        {"AccessKeySecret", ramIssued_.accessKeySecret},
        {"SecurityToken", ramIssued_.securityToken},
        {"Expiration", utc::format(ramIssued_.expiry.value_or(clock_() + std::chrono::hours(6)))},
        {"LastUpdated", utc::format(clock_())},
        {"Code", "Success"}};
    return jsonResponse(200, j);
  }
  return {404, {}, "not found", {}};
}

net::ServerResponse FakeEcs::sts(const net::ServerRequest& req) {
  ++stsCalls_;
  auto q = parseForm(req.query, nullptr);
  if (req.method != "POST") problem("STS: method " + req.method);
  if (q["Version"] != "2015-04-01" || q["Format"] != "JSON" ||
      !utc::parseRfc3339(q["Timestamp"], kAcsTimeForm))
    problem("STS: bad Version, Format or Timestamp");
  if (strings::toLower(req.header("Content-Type")).rfind("application/x-www-form-urlencoded", 0) !=
      0)
    problem("STS: the body is not a form");
  auto f = parseForm(req.body, nullptr);
  for (const char* k : {"OIDCProviderArn", "OIDCToken", "RoleArn", "RoleSessionName"})
    if (f[k].empty()) problem(std::string("STS: missing ") + k);
  if (!f["DurationSeconds"].empty() && !isInteger(f["DurationSeconds"]))
    problem("STS: DurationSeconds is not an integer");
  if (f["RoleArn"] != oidcRole_ || f["OIDCProviderArn"] != oidcProvider_ || oidcRole_.empty())
    return error(404, "EntityNotExist.Role", "The role or the OIDC provider does not exist.");
  if (f["OIDCToken"] != oidcToken_)
    return error(400, "AuthenticationFail.OIDCToken.Invalid", "The OIDC token is invalid.");
  json j = {{"RequestId", requestId()},
            {"Credentials",
             {{"AccessKeyId", oidcIssued_.accessKeyId},
              {"AccessKeySecret", oidcIssued_.accessKeySecret},
              {"SecurityToken", oidcIssued_.securityToken},
              {"Expiration",
               utc::format(oidcIssued_.expiry.value_or(clock_() + std::chrono::hours(1)))}}},
            {"AssumedRoleUser", {{"Arn", oidcRole_ + "/" + f["RoleSessionName"]}}},
            {"SourceIdentity", ""}};
  return jsonResponse(200, j);
}

net::ServerResponse FakeEcs::openApi(const net::ServerRequest& req) {
  std::string dup;
  auto params = parseForm(req.query, &dup);
  if (!dup.empty()) problem("parameter " + dup + " given twice");
  if (!req.body.empty()) {
    // Form bodies count as parameters too (the SDKs may send RPC parameters that way).
    auto ct = strings::toLower(req.header("Content-Type"));
    if (ct.rfind("application/x-www-form-urlencoded", 0) == 0)
      for (auto& [k, v] : parseForm(req.body, nullptr)) params[k] = v;
  }
  FakeEcsCall call;
  call.action = req.header("x-acs-action");
  call.version = req.header("x-acs-version");
  call.params = params;

  // Authentication, as the gateway does it.
  std::string auth = req.header("Authorization");
  const std::string prefix = std::string(kAcs3Algorithm) + " ";
  if (auth.rfind(prefix, 0) != 0) {
    problem(call.action + ": no ACS3-HMAC-SHA256 Authorization");
    log_.record(call);
    return error(400, "IncompleteSignature",
                 "The request signature does not conform to Aliyun standards.");
  }
  std::map<std::string, std::string> fields;
  for (auto part : split(auth.substr(prefix.size()), ',')) {
    auto eq = part.find('=');
    if (eq != std::string::npos)
      fields[std::string(strings::trim(part.substr(0, eq)))] = std::string(part.substr(eq + 1));
  }
  std::string ak = fields["Credential"], signedNames = fields["SignedHeaders"];
  call.accessKeyId = ak;
  call.securityToken = req.header("x-acs-security-token");
  log_.record(call);
  auto key = keys_.find(ak);
  if (key == keys_.end()) {
    problem(call.action + ": unknown AccessKey " + ak);
    return error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.");
  }
  std::set<std::string> signedSet;
  for (auto n : split(signedNames, ';')) signedSet.insert(std::string(n));
  for (const char* must : {"host", "x-acs-action", "x-acs-version", "x-acs-date",
                           "x-acs-signature-nonce", "x-acs-content-sha256"})
    if (!signedSet.contains(must)) problem(call.action + ": " + must + " is not signed");
  Acs3Request canon;
  canon.method = req.method;
  canon.path = req.path;
  canon.query = parseForm(req.query, nullptr);
  canon.body = req.body;
  for (const auto& [name, value] : req.headers) {
    std::string lower = strings::toLower(name);
    if (lower.rfind("x-acs-", 0) == 0 && !signedSet.contains(lower))
      problem(call.action + ": header " + lower + " sent but not signed");
    if (signedSet.contains(lower)) canon.headers.emplace_back(lower, value);
  }
  for (const auto& n : signedSet)
    if (req.header(n).empty()) problem(call.action + ": signed header " + n + " is missing");
  if (req.header("x-acs-content-sha256") != sha256Hex(req.body))
    problem(call.action + ": x-acs-content-sha256 is not the body's hash");
  auto date = utc::parseRfc3339(req.header("x-acs-date"), kAcsTimeForm);
  if (!date || *date < clock_() - std::chrono::minutes(15) ||
      *date > clock_() + std::chrono::minutes(15)) {
    problem(call.action + ": x-acs-date missing or off by more than 15 minutes");
    return error(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.");
  }
  std::string nonce = req.header("x-acs-signature-nonce");
  if (nonce.empty() || !nonces_.insert(nonce).second) {
    problem(call.action + ": signature nonce missing or used before");
    return error(400, "SignatureNonceUsed", "Specified signature nonce was used already.");
  }
  AcsCredentials creds{ak, key->second.secret, "", std::nullopt};
  std::string expected = acs3Authorization(canon, creds);
  if (expected.substr(expected.find("Signature=")) != "Signature=" + fields["Signature"] ||
      fields["SignedHeaders"] !=
          expected.substr(expected.find("SignedHeaders=") + 14,
                          expected.find(",Signature=") - expected.find("SignedHeaders=") - 14)) {
    problem(call.action + ": signature does not match");
    return error(400, "SignatureDoesNotMatch",
                 "The request signature we calculated does not match the signature you provided.");
  }
  if (!key->second.token.empty()) {
    if (call.securityToken != key->second.token || req.header("x-acs-accesskey-id") != ak) {
      problem(call.action + ": STS AccessKey without its x-acs-security-token");
      return error(400, "InvalidSecurityToken.Mismatch",
                   "Specified SecurityToken mismatch with the AccessKey.");
    }
  }

  // The action, its version and its parameters.
  auto spec = specs().find(call.action);
  if (spec == specs().end() || call.version != spec->second.version) {
    problem("unknown action " + call.action + " at version " + call.version);
    return error(404, "InvalidAction.NotFound",
                 "Specified api is not found, please check your url and method.");
  }
  if (params.contains("Action") || params.contains("Signature"))
    problem(call.action + ": V1 signature parameters in a V3 request");
  for (const char* k : spec->second.required)
    if (params[k].empty()) {
      problem(call.action + ": missing " + k);
      return error(400, "MissingParameter",
                   std::string("The input parameter \"") + k +
                       "\" that is mandatory for processing this request is not supplied.");
    }
  for (const char* k : spec->second.integers)
    if (params.contains(k) && !isInteger(params[k])) {
      problem(call.action + ": " + k + " is not an integer: " + params[k]);
      return error(400, "InvalidParameter",
                   std::string("The specified parameter \"") + k + "\" is not valid.");
    }
  for (const char* k : spec->second.booleans)
    if (params.contains(k) && params[k] != "true" && params[k] != "false") {
      problem(call.action + ": " + k + " is not a boolean: " + params[k]);
      return error(400, "InvalidParameter",
                   std::string("The specified parameter \"") + k + "\" is not valid.");
    }
  if (params.contains("RegionId") && params["RegionId"] != region_) {
    problem(call.action + ": RegionId " + params["RegionId"]);
    return error(400, "InvalidRegionId.NotFound", "The specified RegionId does not exist.");
  }
  return dispatch(call.action, params);
}

json FakeEcs::instanceJson(const FakeEcsInstance& i) const {
  json tags = json::array();
  for (const auto& [k, v] : i.tags) tags.push_back({{"TagKey", k}, {"TagValue", v}});
  json sgs = json::array();
  for (int n = 1; i.params.contains("SecurityGroupIds." + std::to_string(n)); ++n)
    sgs.push_back(i.params.at("SecurityGroupIds." + std::to_string(n)));
  bool ready = i.pollsUntilReady <= 0;
  return {
      {"InstanceId", i.id},
      {"InstanceName", i.name},
      {"Status", i.status},
      {"RegionId", region_},
      {"InstanceType", i.params.at("InstanceType")},
      {"ImageId", i.params.at("ImageId")},
      {"VpcAttributes",
       {{"VSwitchId", i.params.at("VSwitchId")},
        {"VpcId", vswitches_.contains(i.params.at("VSwitchId"))
                      ? vswitches_.at(i.params.at("VSwitchId"))
                      : ""},
        {"NatIpAddress", ""},
        {"PrivateIpAddress", {{"IpAddress", ready ? json::array({i.privateIp}) : json::array()}}}}},
      {"PublicIpAddress",
       {{"IpAddress", ready && !i.publicIp.empty() ? json::array({i.publicIp}) : json::array()}}},
      {"EipAddress", {{"IpAddress", ""}, {"AllocationId", ""}, {"InternetChargeType", ""}}},
      {"SecurityGroupIds", {{"SecurityGroupId", sgs}}},
      {"Tags", {{"Tag", tags}}}};
}

net::ServerResponse FakeEcs::dispatch(const std::string& action,
                                      const std::map<std::string, std::string>& cp) {
  auto p = cp;
  auto scripted = failures_.take(action);
  if (scripted && !(action == "RunInstances" && createOnFailedRun_))
    return error(scripted->status, scripted->code, scripted->message);
  json ok = {{"RequestId", requestId()}};

  if (action == "RunInstances") {
    if (p["Amount"] != "1") problem("RunInstances: Amount is " + p["Amount"]);
    if (p["SecurityGroupIds.1"].empty() && p["SecurityGroupId"].empty())
      problem("RunInstances: no security group");
    if (!p["UserData"].empty()) {
      auto ud = encoding::base64Decode(p["UserData"]);
      if (!ud)
        problem("RunInstances: UserData is not base64");
      else if (ud->size() > 32768)
        problem("RunInstances: UserData over 32 KiB");
    }
    if (p.contains("SecurityOptions.ConfidentialComputingMode") &&
        p["SecurityOptions.ConfidentialComputingMode"] != "TDX")
      problem("RunInstances: ConfidentialComputingMode " +
              p["SecurityOptions.ConfidentialComputingMode"]);
    if (p.contains("SystemDisk.Category") && p["SystemDisk.Category"] != "cloud_essd" &&
        p["SystemDisk.Category"] != "cloud_auto" && p["SystemDisk.Category"] != "cloud_efficiency")
      problem("RunInstances: SystemDisk.Category " + p["SystemDisk.Category"]);
    if (p["ClientToken"].size() > 64) problem("RunInstances: ClientToken over 64 characters");
    std::map<std::string, std::string> tags;
    for (int n = 1; p.contains("Tag." + std::to_string(n) + ".Key"); ++n)
      tags[p["Tag." + std::to_string(n) + ".Key"]] = p["Tag." + std::to_string(n) + ".Value"];
    for (const auto& [k, v] : p)
      if (k.rfind("Tag.", 0) == 0) {
        int n = std::atoi(k.c_str() + 4);
        if (n < 1 || n > 20) problem("RunInstances: " + k);
      }
    if (!types_.contains(p["InstanceType"]))
      return error(400, "InvalidInstanceType.ValueNotSupported",
                   "The specified InstanceType does not exist or beyond the permitted range.");
    if (!vswitches_.contains(p["VSwitchId"]))
      return error(404, "InvalidVSwitchId.NotFound", "Specified virtual switch does not exist.");
    std::string id;
    for (const auto& [iid, i] : instances_)
      if (!p["ClientToken"].empty() && i.clientToken == p["ClientToken"]) id = iid;
    if (id.empty()) {
      FakeEcsInstance i;
      char buf[32];
      std::snprintf(buf, sizeof buf, "i-2ze%016d", ++counter_);
      i.id = buf;
      i.name = p["InstanceName"];
      i.status = "Pending";
      i.clientToken = p["ClientToken"];
      i.privateIp = "192.168.0." + std::to_string(10 + instances_.size() % 200);
      if (isInteger(p["InternetMaxBandwidthOut"]) && std::stoi(p["InternetMaxBandwidthOut"]) > 0)
        i.publicIp = "47.93.0." + std::to_string(10 + instances_.size() % 200);
      i.tags = tags;
      i.params = p;
      i.pollsUntilReady = addressDelay_;
      if (i.pollsUntilReady <= 0) i.status = "Running";
      id = i.id;
      instances_[id] = i;
    }
    if (scripted) return error(scripted->status, scripted->code, scripted->message);
    ok["InstanceIdSets"] = {{"InstanceIdSet", json::array({id})}};
    ok["OrderId"] = "";
    ok["TradePrice"] = 0.0;
    return jsonResponse(200, ok);
  }
  if (action == "DescribeInstances") {
    std::vector<std::string> ids;
    if (p.contains("InstanceIds")) {
      json j = json::parse(p["InstanceIds"], nullptr, false);
      if (!j.is_array()) {
        problem("DescribeInstances: InstanceIds is not a JSON array");
        return error(400, "InvalidParameter",
                     "The specified parameter \"InstanceIds\" is not valid.");
      }
      for (const auto& v : j) {
        if (!v.is_string())
          problem("DescribeInstances: InstanceIds holds a non-string");
        else
          ids.push_back(v.get<std::string>());
      }
    }
    std::vector<json> matched;
    for (auto& [id, i] : instances_) {
      if (!ids.empty() && std::find(ids.begin(), ids.end(), id) == ids.end()) continue;
      bool ok2 = true;
      for (int n = 1; p.contains("Tag." + std::to_string(n) + ".Key"); ++n) {
        auto k = p["Tag." + std::to_string(n) + ".Key"];
        auto it = i.tags.find(k);
        std::string vk = "Tag." + std::to_string(n) + ".Value";
        if (it == i.tags.end() || (p.contains(vk) && it->second != p[vk])) ok2 = false;
      }
      if (!ok2) continue;
      if (i.pollsUntilReady > 0 && --i.pollsUntilReady == 0) i.status = "Running";
      matched.push_back(instanceJson(i));
    }
    size_t page = isInteger(p["MaxResults"]) ? std::stoul(p["MaxResults"]) : 10;
    if (page == 0 || page > 100) page = 10;
    size_t from = isInteger(p["NextToken"]) ? std::stoul(p["NextToken"]) : 0;
    json list = json::array();
    for (size_t k = from; k < matched.size() && k < from + page; ++k) list.push_back(matched[k]);
    ok["Instances"] = {{"Instance", list}};
    ok["TotalCount"] = matched.size();
    ok["NextToken"] = from + page < matched.size() ? std::to_string(from + page) : "";
    return jsonResponse(200, ok);
  }
  if (action == "DescribeInstanceTypes") {
    json list = json::array();
    std::vector<std::string> want;
    for (int n = 1; p.contains("InstanceTypes." + std::to_string(n)); ++n)
      want.push_back(p["InstanceTypes." + std::to_string(n)]);
    if (want.size() > 10) problem("DescribeInstanceTypes: more than 10 InstanceTypes");
    for (const auto& [name, t] : types_)
      if (want.empty() || std::find(want.begin(), want.end(), name) != want.end())
        list.push_back(t);
    ok["InstanceTypes"] = {{"InstanceType", list}};
    ok["NextToken"] = "";
    return jsonResponse(200, ok);
  }
  if (action == "DeleteInstance") {
    auto it = instances_.find(p["InstanceId"]);
    if (it == instances_.end())
      return error(404, "InvalidInstanceId.NotFound", "The specified InstanceId does not exist.");
    if (p["Force"] != "true" && it->second.status == "Running")
      return error(403, "IncorrectInstanceStatus",
                   "The current status of the resource does not support this operation.");
    for (auto n = nics_.begin(); n != nics_.end();) {
      if (n->second.instanceId == it->first) {
        if (n->second.deleteOnRelease) {
          for (auto& [eid, e] : eips_)
            if (e.boundTo == n->first)
              e.status = "Available", e.boundTo.clear(), e.boundType.clear();
          n = nics_.erase(n);
          continue;
        }
        n->second.status = "Available";
        n->second.instanceId.clear();
      }
      ++n;
    }
    instances_.erase(it);
    return jsonResponse(200, ok);
  }
  if (action == "CreateNetworkInterface") {
    if (p["SecurityGroupId"].empty() && p["SecurityGroupIds.1"].empty())
      problem("CreateNetworkInterface: no security group");
    if (!vswitches_.contains(p["VSwitchId"]))
      return error(404, "InvalidVSwitchId.NotFound", "Specified virtual switch does not exist.");
    FakeNic n;
    n.id = "eni-2ze" + std::to_string(++counter_);
    n.name = p["NetworkInterfaceName"];
    n.status = "Available";
    nics_[n.id] = n;
    ok["NetworkInterfaceId"] = n.id;
    ok["Status"] = "Available";
    ok["VSwitchId"] = p["VSwitchId"];
    return jsonResponse(200, ok);
  }
  if (action == "AttachNetworkInterface") {
    auto n = nics_.find(p["NetworkInterfaceId"]);
    auto i = instances_.find(p["InstanceId"]);
    if (n == nics_.end())
      return error(404, "InvalidEniId.NotFound", "The specified ENI does not exist.");
    if (i == instances_.end())
      return error(404, "InvalidInstanceId.NotFound", "The specified InstanceId does not exist.");
    if (i->second.status != "Running")
      return error(403, "IncorrectInstanceStatus",
                   "The current status of the resource does not support this operation.");
    if (n->second.status != "Available")
      return error(403, "InvalidOperation.InvalidEniState", "The ENI is not available.");
    n->second.status = "Attaching";
    n->second.instanceId = i->first;
    return jsonResponse(200, ok);
  }
  if (action == "DescribeNetworkInterfaceAttribute") {
    auto n = nics_.find(p["NetworkInterfaceId"]);
    if (n == nics_.end())
      return error(404, "InvalidEniId.NotFound", "The specified ENI does not exist.");
    ok["NetworkInterfaceId"] = n->first;
    ok["NetworkInterfaceName"] = n->second.name;
    ok["Status"] = n->second.status;
    ok["InstanceId"] = n->second.instanceId;
    ok["DeleteOnRelease"] = n->second.deleteOnRelease;
    if (n->second.status == "Attaching") n->second.status = "InUse";
    return jsonResponse(200, ok);
  }
  if (action == "ModifyNetworkInterfaceAttribute") {
    auto n = nics_.find(p["NetworkInterfaceId"]);
    if (n == nics_.end())
      return error(404, "InvalidEniId.NotFound", "The specified ENI does not exist.");
    if (p.contains("DeleteOnRelease")) n->second.deleteOnRelease = p["DeleteOnRelease"] == "true";
    return jsonResponse(200, ok);
  }
  if (action == "DeleteNetworkInterface") {
    auto n = nics_.find(p["NetworkInterfaceId"]);
    if (n == nics_.end())
      return error(404, "InvalidEniId.NotFound", "The specified ENI does not exist.");
    if (n->second.status != "Available")
      return error(403, "InvalidOperation.InvalidEniState", "The ENI is in use.");
    nics_.erase(n);
    return jsonResponse(200, ok);
  }
  if (action == "DescribeNetworkInterfaces") {
    json list = json::array();
    for (const auto& [id, n] : nics_) {
      if (p.contains("NetworkInterfaceName") && n.name != p["NetworkInterfaceName"]) continue;
      if (p.contains("InstanceId") && n.instanceId != p["InstanceId"]) continue;
      list.push_back({{"NetworkInterfaceId", id},
                      {"NetworkInterfaceName", n.name},
                      {"Status", n.status},
                      {"InstanceId", n.instanceId},
                      {"Type", "Secondary"}});
    }
    ok["NetworkInterfaceSets"] = {{"NetworkInterfaceSet", list}};
    ok["TotalCount"] = list.size();
    ok["NextToken"] = "";
    return jsonResponse(200, ok);
  }
  if (action == "DescribeVSwitchAttributes") {
    auto v = vswitches_.find(p["VSwitchId"]);
    if (v == vswitches_.end())
      return error(404, "InvalidVSwitchId.NotFound", "Specified virtual switch does not exist.");
    ok["VSwitchId"] = v->first;
    ok["VpcId"] = v->second;
    ok["Status"] = "Available";
    ok["ZoneId"] = region_ + "-a";
    ok["CidrBlock"] = "192.168.0.0/24";
    return jsonResponse(200, ok);
  }
  if (action == "AllocateEipAddress") {
    FakeEip e;
    e.id = "eip-2ze" + std::to_string(++counter_);
    e.ip = "39.96.0." + std::to_string(10 + eips_.size() % 200);
    e.name = p["Name"];
    e.status = "Available";
    eips_[e.id] = e;
    ok["AllocationId"] = e.id;
    ok["EipAddress"] = e.ip;
    ok["ResourceGroupId"] = "rg-acfm";
    return jsonResponse(200, ok);
  }
  if (action == "DescribeEipAddresses") {
    json list = json::array();
    for (const auto& [id, e] : eips_) {
      if (p.contains("AllocationId") && id != p["AllocationId"]) continue;
      if (p.contains("EipName") && e.name != p["EipName"]) continue;
      list.push_back({{"AllocationId", id},
                      {"IpAddress", e.ip},
                      {"Status", e.status},
                      {"Name", e.name},
                      {"InstanceId", e.boundTo},
                      {"InstanceType", e.boundType},
                      {"RegionId", region_}});
    }
    ok["EipAddresses"] = {{"EipAddress", list}};
    ok["TotalCount"] = list.size();
    ok["PageNumber"] = 1;
    ok["PageSize"] = 50;
    return jsonResponse(200, ok);
  }
  if (action == "AssociateEipAddress") {
    auto e = eips_.find(p["AllocationId"]);
    if (e == eips_.end())
      return error(404, "InvalidAllocationId.NotFound", "Specified allocation ID is not found.");
    if (p["InstanceType"] != "NetworkInterface" && p["InstanceId"].rfind("eni-", 0) == 0)
      problem("AssociateEipAddress: an ENI without InstanceType=NetworkInterface");
    auto n = nics_.find(p["InstanceId"]);
    if (n == nics_.end())
      return error(404, "InvalidInstanceId.NotFound", "The instance does not exist.");
    if (e->second.status != "Available")
      return error(400, "IncorrectEipStatus", "The EIP is in use.");
    e->second.status = "InUse";
    e->second.boundTo = n->first;
    e->second.boundType = "NetworkInterface";
    return jsonResponse(200, ok);
  }
  if (action == "UnassociateEipAddress") {
    auto e = eips_.find(p["AllocationId"]);
    if (e == eips_.end())
      return error(404, "InvalidAllocationId.NotFound", "Specified allocation ID is not found.");
    e->second.status = "Available";
    e->second.boundTo.clear();
    e->second.boundType.clear();
    return jsonResponse(200, ok);
  }
  if (action == "ReleaseEipAddress") {
    auto e = eips_.find(p["AllocationId"]);
    if (e == eips_.end())
      return error(404, "InvalidAllocationId.NotFound", "Specified allocation ID is not found.");
    if (e->second.status != "Available")
      return error(400, "IncorrectEipStatus", "The EIP is associated.");
    eips_.erase(e);
    return jsonResponse(200, ok);
  }
  return error(404, "InvalidAction.NotFound", "Specified api is not found.");
}

}  // namespace pp::providers::alibabacloud::testing
