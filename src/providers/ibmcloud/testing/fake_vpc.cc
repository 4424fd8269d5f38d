// The fake IBM Cloud VPC and Global Tagging APIs (see fake_vpc.h).
#include "providers/ibmcloud/testing/fake_vpc.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <regex>
#include <stdexcept>

#include "base/strings.h"

namespace pp::providers::ibmcloud::testing {
namespace {

using json = nlohmann::json;

net::ServerResponse ibmError(int status, const std::string& code, const std::string& message,
                             const std::string& retryAfter = "") {
  net::ServerResponse r;
  r.status = status;
  r.headers = {{"Content-Type", "application/json"}};
  if (!retryAfter.empty()) r.headers.emplace_back("Retry-After", retryAfter);
  static std::atomic<int> traceNo{1};
  json body = {{"errors", json::array({{{"code", code},
                                        {"message", message},
                                        {"more_info", "https://cloud.ibm.com/docs/vpc"}}})},
               {"trace", "fake-trace-" + std::to_string(traceNo++)}};
  r.body = body.dump();
  return r;
}

net::ServerResponse jsonAnswer(int status, const json& body) {
  net::ServerResponse r;
  r.status = status;
  r.headers = {{"Content-Type", "application/json"}};
  r.body = body.dump();
  return r;
}

bool isDate(const std::string& s) {
  static const std::regex re("^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$");
  return std::regex_match(s, re);
}

// The VPC naming rule: lowercase letters, digits and '-', starting with a letter, not ending
// with '-', at most 63 characters.
bool isVpcName(const std::string& s) {
  static const std::regex re("^([a-z]|[a-z][-a-z0-9]*[a-z0-9])$");
  return s.size() <= 63 && std::regex_match(s, re);
}

// Tag names: letters, digits, space, '_', '-', '.', ':'; at most 128 characters.
bool isTagName(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string_view(" _-.:").find(c) == std::string_view::npos)
      return false;
  return true;
}

// A "{id: string}" (or {name: ...}) identity object at j[key]; "" with a problem otherwise.
std::string identity(const json& j, const char* key, const char* field, bool required,
                     std::vector<std::string>& bad) {
  auto it = j.find(key);
  if (it == j.end()) {
    if (required) bad.push_back(std::string(key) + " is required");
    return "";
  }
  if (!it->is_object()) {
    bad.push_back(std::string(key) + " must be an object");
    return "";
  }
  auto f = it->find(field);
  if (f == it->end() || !f->is_string() || f->get<std::string>().empty()) {
    bad.push_back(std::string(key) + "." + field + " must be a non-empty string");
    return "";
  }
  if (it->size() != 1) bad.push_back(std::string(key) + " has members besides " + field);
  return f->get<std::string>();
}

}  // namespace

FakeVpc::FakeVpc(const FakeIam& iam, std::string zone, std::string vpcId)
    : iam_(iam), zone_(std::move(zone)), vpcId_(std::move(vpcId)) {
  net::HttpServerOptions o;
  o.name = "fake-vpc";
  o.threads = 3;
  auto s = net::HttpServer::start(o, [this](const net::ServerRequest& r) { return handle(r); });
  if (!s) throw std::runtime_error("fake VPC: " + s.error().message);
  server_ = std::move(*s);
}

FakeVpc::~FakeVpc() {
  if (server_) server_->stop();
}

std::string FakeVpc::baseUrl() const {
  return server_->baseUrl();
}

void FakeVpc::addProfile(const std::string& name, int vcpus, int memoryGiB,
                         const std::string& arch) {
  std::lock_guard lock(mu_);
  profiles_[name] = {
      {"name", name},
      {"family", "balanced"},
      {"href", vpcUrl() + "/instance/profiles/" + name},
      {"vcpu_count", {{"type", "fixed"}, {"value", vcpus}}},
      {"memory", {{"type", "fixed"}, {"value", memoryGiB}}},
      {"vcpu_architecture", {{"type", "fixed"}, {"value", arch}}},
      {"confidential_compute_modes",
       {{"type", "enum"}, {"default", "disabled"}, {"values", {"disabled", "tdx"}}}}};
}

void FakeVpc::addImage(const std::string& id, const std::string& arch) {
  std::lock_guard lock(mu_);
  images_[id] = {{"id", id},
                 {"name", "podvm-" + id},
                 {"status", "available"},
                 {"crn", "crn:v1:bluemix:public:is:jp-tok:a/acct1::image:" + id},
                 {"operating_system",
                  {{"architecture", arch},
                   {"name", "ubuntu-24-04-" + arch},
                   {"family", "Ubuntu Linux"},
                   {"vendor", "Canonical"}}}};
}

void FakeVpc::addSubnet(const std::string& id, const std::string& resourceGroup) {
  std::lock_guard lock(mu_);
  subnets_[id] = resourceGroup;
}

void FakeVpc::addSecurityGroup(const std::string& id, bool isDefault) {
  std::lock_guard lock(mu_);
  securityGroups_.insert(id);
  if (isDefault) defaultSg_ = id;
}

void FakeVpc::addKey(const std::string& id) {
  std::lock_guard lock(mu_);
  keys_.insert(id);
}

std::string FakeVpc::addInstance(const std::string& name, const std::vector<std::string>& tags) {
  std::lock_guard lock(mu_);
  FakeVpcInstance i;
  i.id = "0717_other-" + std::to_string(nextId_++);
  i.crn = "crn:v1:bluemix:public:is:" + zone_ + ":a/acct1::instance:" + i.id;
  i.name = name;
  i.ips = {"10.240.0." + std::to_string(100 + nextId_)};
  tags_[i.crn] = tags;
  instances_[i.id] = i;
  return i.id;
}

void FakeVpc::setIpDelay(int gets) {
  std::lock_guard lock(mu_);
  ipDelay_ = gets;
}

void FakeVpc::setPageSize(int n) {
  std::lock_guard lock(mu_);
  pageSize_ = n;
}

void FakeVpc::failCreateAfterApplying(int status, int times) {
  std::lock_guard lock(mu_);
  applyThenFail_ = times;
  applyThenFailStatus_ = status;
}

void FakeVpc::failNextAttachInResult() {
  std::lock_guard lock(mu_);
  attachResultError_ = true;
}

std::vector<VpcCall> FakeVpc::calls(const std::string& match) const {
  return log_.select([&](const VpcCall& c) {
    return match.empty() || (c.method + " " + c.path).find(match) != std::string::npos;
  });
}

std::map<std::string, FakeVpcInstance> FakeVpc::instances() const {
  std::lock_guard lock(mu_);
  return instances_;
}

std::vector<std::string> FakeVpc::tagsOf(const std::string& crn) const {
  std::lock_guard lock(mu_);
  auto it = tags_.find(crn);
  return it == tags_.end() ? std::vector<std::string>{} : it->second;
}

int FakeVpc::createsApplied() const {
  std::lock_guard lock(mu_);
  return created_;
}

int FakeVpc::deletesApplied() const {
  std::lock_guard lock(mu_);
  return deleted_;
}

net::ServerResponse FakeVpc::handle(const net::ServerRequest& req) {
  VpcCall call{req.method, req.path, req.query, nullptr, req.header("Authorization"), 0};
  auto answer = [&](net::ServerResponse r) {
    call.status = r.status;
    log_.record(call);
    return r;
  };
  std::string key = req.method + " " + req.path;
  if (!req.body.empty()) {
    if (strings::toLower(req.header("Content-Type")).rfind("application/json", 0) != 0)
      log_.problem(key + ": body without Content-Type application/json");
    call.body = json::parse(req.body, nullptr, false);
    if (call.body.is_discarded()) {
      log_.problem(key + ": body is not JSON");
      return answer(ibmError(400, "bad_request", "The request body is not valid JSON."));
    }
  }
  if (!iam_.valid(call.authorization)) {
    // A missing or expired token is the client's bug unless it is testing exactly that.
    if (call.authorization.empty()) log_.problem(key + ": no Authorization header");
    return answer(ibmError(401, "not_authorized", "The request is not authorized."));
  }
  if (auto f = failures_.take(key))
    return answer(ibmError(f->status, f->code, f->message, f->retryAfter));
  if (req.path.rfind("/v1/", 0) == 0) return answer(vpc(req, call.body));
  if (req.path.rfind("/v3/", 0) == 0) return answer(tagging(req, call.body));
  log_.problem(key + ": unknown API path");
  return answer(ibmError(404, "not_found", "Not found."));
}

net::ServerResponse FakeVpc::vpc(const net::ServerRequest& req, const json& body) {
  std::string key = req.method + " " + req.path;
  auto version = req.queryParam("version");
  if (!version || !isDate(*version)) {
    log_.problem(key + ": version query parameter missing or not a YYYY-MM-DD date");
    return ibmError(400, "missing_version_param", "The version parameter is required.");
  }
  if (req.queryParam("generation") != std::optional<std::string>("2")) {
    log_.problem(key + ": generation=2 query parameter missing");
    return ibmError(400, "bad_request", "generation=2 is required for VPC resources.");
  }
  std::smatch m;
  const std::string& p = req.path;
  std::lock_guard lock(mu_);
  if (p == "/v1/instances" && req.method == "POST") return createInstance(body);
  if (p == "/v1/instances" && req.method == "GET") {
    std::vector<FakeVpcInstance*> match;
    auto name = req.queryParam("name");
    auto vpcId = req.queryParam("vpc.id");
    for (auto& [id, i] : instances_) {
      if (name && i.name != *name) continue;
      if (vpcId && *vpcId != vpcId_) continue;
      match.push_back(&i);
    }
    int limit = 50;
    if (auto l = req.queryParam("limit")) {
      if (l->empty() || l->size() > 3 || l->find_first_not_of("0123456789") != std::string::npos ||
          std::stoi(*l) < 1 || std::stoi(*l) > 100) {
        log_.problem(key + ": limit must be 1..100");
        return ibmError(400, "bad_request", "limit must be between 1 and 100");
      }
      limit = std::stoi(*l);
    }
    limit = std::min(limit, pageSize_);
    size_t start = 0;
    if (auto s = req.queryParam("start")) {
      if (s->rfind("page-", 0) != 0 || s->size() < 6 || s->size() > 12 ||
          s->find_first_not_of("0123456789", 5) != std::string::npos) {
        log_.problem(key + ": start token " + *s + " was not issued by the fake");
        return ibmError(400, "bad_request", "bad start token");
      }
      start = std::stoul(s->substr(5));
    }
    json out = {{"instances", json::array()},
                {"limit", limit},
                {"total_count", match.size()},
                {"first", {{"href", vpcUrl() + "/instances?limit=" + std::to_string(limit)}}}};
    for (size_t k = start; k < match.size() && k < start + limit; ++k)
      out["instances"].push_back(instanceJson(*match[k], false));
    if (start + limit < match.size()) {
      out["next"] = {{"href", vpcUrl() + "/instances?limit=" + std::to_string(limit) +
                                  "&start=page-" + std::to_string(start + limit)}};
    }
    return jsonAnswer(200, out);
  }
  static const std::regex instanceRe("^/v1/instances/([^/]+)$");
  if (std::regex_match(p, m, instanceRe)) {
    auto it = instances_.find(m[1]);
    if (it == instances_.end())
      return ibmError(404, "not_found", "Instance not found: " + std::string(m[1]));
    if (req.method == "GET") return jsonAnswer(200, instanceJson(it->second, true));
    if (req.method == "DELETE") {
      tags_.erase(it->second.crn);
      instances_.erase(it);
      ++deleted_;
      net::ServerResponse r;
      r.status = 204;
      return r;
    }
  }
  static const std::regex profileRe("^/v1/instance/profiles/([^/]+)$");
  if (req.method == "GET" && std::regex_match(p, m, profileRe)) {
    auto it = profiles_.find(m[1]);
    if (it == profiles_.end())
      return ibmError(404, "instance_profile_not_found", "Instance profile not found.");
    return jsonAnswer(200, it->second);
  }
  static const std::regex imageRe("^/v1/images/([^/]+)$");
  if (req.method == "GET" && std::regex_match(p, m, imageRe)) {
    auto it = images_.find(m[1]);
    if (it == images_.end()) return ibmError(404, "image_not_found", "Image not found.");
    return jsonAnswer(200, it->second);
  }
  static const std::regex subnetRe("^/v1/subnets/([^/]+)$");
  if (req.method == "GET" && std::regex_match(p, m, subnetRe)) {
    auto it = subnets_.find(m[1]);
    if (it == subnets_.end()) return ibmError(404, "subnet_not_found", "Subnet not found.");
    return jsonAnswer(200, {{"id", it->first},
                            {"name", "subnet-" + it->first},
                            {"vpc", {{"id", vpcId_}, {"name", "vpc"}}},
                            {"resource_group", {{"id", it->second}, {"name", "default"}}},
                            {"zone", {{"name", zone_}}}});
  }
  static const std::regex sgRe("^/v1/vpcs/([^/]+)/default_security_group$");
  if (req.method == "GET" && std::regex_match(p, m, sgRe)) {
    if (m[1] != vpcId_ || defaultSg_.empty())
      return ibmError(404, "vpc_not_found", "VPC not found.");
    return jsonAnswer(200, {{"id", defaultSg_}, {"name", "default-sg"}});
  }
  log_.problem(key + ": not a VPC call this fake knows");
  return ibmError(404, "not_found", "Not found.");
}

// Called with mu_ held.
net::ServerResponse FakeVpc::createInstance(const json& body) {
  std::vector<std::string> bad;
  if (!body.is_object()) return ibmError(400, "bad_request", "The body must be an object.");
  static const std::set<std::string> known = {"name",
                                              "image",
                                              "profile",
                                              "zone",
                                              "vpc",
                                              "keys",
                                              "user_data",
                                              "primary_network_interface",
                                              "network_interfaces",
                                              "metadata_service",
                                              "confidential_compute_mode",
                                              "enable_secure_boot",
                                              "resource_group"};
  for (const auto& [k, v] : body.items())
    if (!known.count(k)) bad.push_back("unexpected member " + k);
  std::string name;
  if (auto n = body.find("name"); n != body.end()) {
    if (!n->is_string() || !isVpcName(n->get<std::string>()))
      bad.push_back("name must be a VPC name (lowercase, digits, '-', <= 63)");
    else
      name = n->get<std::string>();
  }
  std::string image = identity(body, "image", "id", true, bad);
  std::string profile = identity(body, "profile", "name", true, bad);
  std::string zone = identity(body, "zone", "name", true, bad);
  std::string vpc = identity(body, "vpc", "id", false, bad);
  std::string rg = identity(body, "resource_group", "id", false, bad);
  if (auto ud = body.find("user_data"); ud != body.end() && !ud->is_string())
    bad.push_back("user_data must be a string");
  if (auto keys = body.find("keys"); keys != body.end()) {
    if (!keys->is_array()) {
      bad.push_back("keys must be an array");
    } else {
      for (const auto& k : *keys) {
        std::string id = identity(json{{"key", k}}, "key", "id", true, bad);
        if (!id.empty() && !keys_.count(id))
          return ibmError(404, "key_not_found", "Key not found: " + id);
      }
    }
  }
  if (auto ms = body.find("metadata_service"); ms != body.end()) {
    if (!ms->is_object() || !ms->contains("enabled") || !(*ms)["enabled"].is_boolean() ||
        (ms->contains("protocol") &&
         (!(*ms)["protocol"].is_string() ||
          ((*ms)["protocol"] != "http" && (*ms)["protocol"] != "https"))))
      bad.push_back("metadata_service must be {enabled: bool, protocol: http|https}");
  }
  if (auto cc = body.find("confidential_compute_mode"); cc != body.end()) {
    if (!cc->is_string() || (*cc != "disabled" && *cc != "tdx" && *cc != "sgx"))
      bad.push_back("confidential_compute_mode must be disabled, sgx or tdx");
  }
  if (auto sb = body.find("enable_secure_boot"); sb != body.end() && !sb->is_boolean())
    bad.push_back("enable_secure_boot must be a boolean");
  std::vector<json> nics;
  auto checkNic = [&](const json& nic, const std::string& what) {
    if (!nic.is_object()) {
      bad.push_back(what + " must be an object");
      return;
    }
    std::string subnet = identity(nic, "subnet", "id", true, bad);
    if (!subnet.empty() && !subnets_.count(subnet))
      bad.push_back(what + ": subnet " + subnet + " not found");
    if (auto sgs = nic.find("security_groups"); sgs != nic.end()) {
      if (!sgs->is_array() || sgs->empty())
        bad.push_back(what + ".security_groups must be a non-empty array");
      else
        for (const auto& sg : *sgs) {
          std::string id = identity(json{{"sg", sg}}, "sg", "id", true, bad);
          if (!id.empty() && !securityGroups_.count(id))
            bad.push_back(what + ": security group " + id + " not found");
        }
    }
    if (auto s = nic.find("allow_ip_spoofing"); s != nic.end() && !s->is_boolean())
      bad.push_back(what + ".allow_ip_spoofing must be a boolean");
    for (const auto& [k, v] : nic.items())
      if (k != "subnet" && k != "security_groups" && k != "allow_ip_spoofing" && k != "name")
        bad.push_back(what + ": unexpected member " + k);
    nics.push_back(nic);
  };
  if (auto p = body.find("primary_network_interface"); p != body.end())
    checkNic(*p, "primary_network_interface");
  else
    bad.push_back("primary_network_interface is required");
  if (auto ns = body.find("network_interfaces"); ns != body.end()) {
    if (!ns->is_array())
      bad.push_back("network_interfaces must be an array");
    else
      for (const auto& n : *ns) checkNic(n, "network_interfaces[]");
  }
  if (!bad.empty()) {
    for (const auto& b : bad) log_.problem("POST /v1/instances: " + b);
    return ibmError(400, "validation_invalid_argument", bad.front());
  }
  if (name.empty()) return ibmError(400, "validation_required_field_missing", "name is required");
  if (!images_.count(image)) return ibmError(404, "image_not_found", "Image not found: " + image);
  if (!profiles_.count(profile))
    return ibmError(404, "instance_profile_not_found", "Instance profile not found: " + profile);
  if (zone != zone_) return ibmError(400, "zone_not_found", "Zone not found: " + zone);
  if (!vpc.empty() && vpc != vpcId_) return ibmError(404, "vpc_not_found", "VPC not found: " + vpc);
  for (const auto& [id, i] : instances_)
    if (i.name == name)
      return ibmError(400, "validation_unique_failed",
                      "The instance name '" + name + "' is already in use in this VPC.");
  (void)rg;
  FakeVpcInstance i;
  char id[64];
  std::snprintf(id, sizeof id, "0717_%08x-0000-4000-8000-%012d", 0xfeed0000u + nextId_, nextId_);
  ++nextId_;
  i.id = id;
  i.crn = "crn:v1:bluemix:public:is:" + zone_ + ":a/acct1::instance:" + i.id;
  i.name = name;
  i.prototype = body;
  for (size_t n = 0; n < nics.size(); ++n)
    i.ips.push_back("10." + std::to_string(240 + n) + ".0." + std::to_string(3 + nextId_));
  i.getsUntilIps = ipDelay_;
  instances_[i.id] = i;
  ++created_;
  if (applyThenFail_ > 0) {
    --applyThenFail_;
    return ibmError(applyThenFailStatus_, "internal_error", "Internal error.");
  }
  return jsonAnswer(201, instanceJson(instances_[i.id], false));
}

// Called with mu_ held.
json FakeVpc::instanceJson(FakeVpcInstance& i, bool countGet) {
  bool ready = i.getsUntilIps == 0;
  if (countGet && i.getsUntilIps > 0) --i.getsUntilIps;
  json nics = json::array();
  for (size_t n = 0; n < i.ips.size(); ++n) {
    nics.push_back({{"id", i.id + "-nic" + std::to_string(n)},
                    {"name", "eth" + std::to_string(n)},
                    {"primary_ip", {{"address", ready ? i.ips[n] : "0.0.0.0"}}},
                    {"subnet", {{"id", "subnet"}}}});
  }
  return {{"id", i.id},
          {"crn", i.crn},
          {"name", i.name},
          {"href", vpcUrl() + "/instances/" + i.id},
          {"status", ready ? "running" : "pending"},
          {"zone", {{"name", zone_}}},
          {"vpc", {{"id", vpcId_}}},
          {"primary_network_interface", nics.empty() ? json::object() : nics[0]},
          {"network_interfaces", nics},
          {"created_at", "2026-12-02T07:00:00Z"}};
}

net::ServerResponse FakeVpc::tagging(const net::ServerRequest& req, const json& body) {
  std::string key = req.method + " " + req.path;
  if (req.queryParam("tag_type") != std::optional<std::string>("user"))
    log_.problem(key + ": tag_type=user expected");
  std::lock_guard lock(mu_);
  if (req.path == "/v3/tags/attach" && req.method == "POST") {
    std::vector<std::string> bad;
    if (!body.is_object() || !body.contains("resources") || !body["resources"].is_array() ||
        body["resources"].empty())
      bad.push_back("resources must be a non-empty array");
    if (!body.is_object() || !body.contains("tag_names") || !body["tag_names"].is_array() ||
        body["tag_names"].empty())
      bad.push_back("tag_names must be a non-empty array");
    if (bad.empty()) {
      for (const auto& t : body["tag_names"])
        if (!t.is_string() || !isTagName(t.get<std::string>()))
          bad.push_back("tag name " + t.dump() + " is not a valid tag");
      for (const auto& r : body["resources"])
        if (!r.is_object() || !r.contains("resource_id") || !r["resource_id"].is_string())
          bad.push_back("resources[].resource_id must be a string");
    }
    if (!bad.empty()) {
      for (const auto& b : bad) log_.problem(key + ": " + b);
      return ibmError(400, "bad_request", bad.front());
    }
    json results = json::array();
    for (const auto& r : body["resources"]) {
      std::string crn = r["resource_id"];
      bool known = false;
      for (const auto& [id, i] : instances_) known = known || i.crn == crn;
      bool error = !known || attachResultError_;
      attachResultError_ = false;
      if (!error) {
        auto& list = tags_[crn];
        for (const auto& t : body["tag_names"])
          if (std::find(list.begin(), list.end(), t.get<std::string>()) == list.end())
            list.push_back(t.get<std::string>());
      }
      results.push_back({{"resource_id", crn}, {"is_error", error}});
    }
    return jsonAnswer(200, {{"results", results}});
  }
  if (req.path == "/v3/tags" && req.method == "GET") {
    auto crn = req.queryParam("attached_to");
    if (!crn) {
      log_.problem(key + ": attached_to expected");
      return ibmError(400, "bad_request", "attached_to is required here");
    }
    json items = json::array();
    if (auto it = tags_.find(*crn); it != tags_.end())
      for (const auto& t : it->second) items.push_back({{"name", t}});
    return jsonAnswer(
        200, {{"total_count", items.size()}, {"offset", 0}, {"limit", 1000}, {"items", items}});
  }
  log_.problem(key + ": not a tagging call this fake knows");
  return ibmError(404, "not_found", "Not found.");
}

}  // namespace pp::providers::ibmcloud::testing
