// The fake Power Virtual Server and IAM Identity endpoints (see fake_powervs.h).
#include "providers/ibmcloud-powervs/testing/fake_powervs.h"

#include <cstdio>
#include <set>
#include <stdexcept>

#include "base/encoding.h"

namespace pp::providers::powervs::testing {
namespace {

using json = nlohmann::json;
constexpr char kWorkspacePrefix[] = "/pcloud/v1/cloud-instances/";
constexpr char kDhcpServerId[] = "7d6c5b4a-3f2e-4d1c-9b8a-7f6e5d4c3b2a";

net::ServerResponse jsonResponse(int status, const json& j, net::HeaderList extra = {}) {
  net::ServerResponse r;
  r.status = status;
  r.headers = std::move(extra);
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = j.dump();
  return r;
}

// PowerVS's error body (power-go-client models.Error).
net::ServerResponse powerError(int status, const std::string& error, const std::string& description,
                               const std::string& retryAfter = "") {
  net::HeaderList h;
  if (!retryAfter.empty()) h.emplace_back("Retry-After", retryAfter);
  return jsonResponse(
      status,
      {{"code", status}, {"description", description}, {"error", error}, {"message", description}},
      h);
}

bool isBase64(const std::string& s) {
  if (s.size() % 4 != 0) return false;
  return encoding::base64Decode(s).has_value();
}

// The PVMInstanceCreate fields power-go-client knows (a subset: what a client may send).
const std::set<std::string>& knownCreateFields() {
  static const std::set<std::string> k = {"serverName",
                                          "imageID",
                                          "keyPairName",
                                          "networks",
                                          "networkIDs",
                                          "memory",
                                          "processors",
                                          "procType",
                                          "sysType",
                                          "userData",
                                          "storageType",
                                          "storagePool",
                                          "volumeIDs",
                                          "pinPolicy",
                                          "placementGroup",
                                          "userTags",
                                          "replicants",
                                          "migratable",
                                          "licenseRepositoryCapacity"};
  return k;
}

}  // namespace

FakePowerVs::FakePowerVs(const ibmcloud::testing::FakeIam& iam) : iam_(iam) {
  net::HttpServerOptions o;
  o.name = "fake-powervs";
  o.threads = 2;
  auto s = net::HttpServer::start(o, [this](const net::ServerRequest& r) { return handle(r); });
  if (!s) throw std::runtime_error("fake powervs: " + s.error().message);
  server_ = std::move(*s);
}

FakePowerVs::~FakePowerVs() {
  server_->stop();
}

std::string FakePowerVs::url() const {
  return server_->baseUrl();
}

std::string FakePowerVs::crn() const {
  return std::string("crn:v1:bluemix:public:power-iaas:") + kZone + ":a/" + kAccountId + ":" +
         kWorkspaceId + "::";
}

void FakePowerVs::failNext(const std::string& match, int status, const std::string& error,
                           const std::string& description, int times,
                           const std::string& retryAfter) {
  failures_.add(match, {status, error, description, retryAfter}, times);
}

void FakePowerVs::setPollsBeforeActive(int n) {
  std::lock_guard lock(mu_);
  pollsBeforeActive_ = n;
}
void FakePowerVs::failNextBuild(const std::string& fault) {
  std::lock_guard lock(mu_);
  nextBuildFault_ = fault;
}
void FakePowerVs::setNeverActive(bool v) {
  std::lock_guard lock(mu_);
  neverActive_ = v;
}
void FakePowerVs::loseNextCreateAnswer() {
  std::lock_guard lock(mu_);
  loseNextAnswer_ = true;
}
void FakePowerVs::setDhcpNetwork(bool dhcp, int leaseAfterPolls) {
  std::lock_guard lock(mu_);
  dhcp_ = dhcp;
  leaseAfterPolls_ = leaseAfterPolls;
}
void FakePowerVs::setNoAddresses(bool v) {
  std::lock_guard lock(mu_);
  noAddresses_ = v;
}
void FakePowerVs::setListFails(bool v) {
  std::lock_guard lock(mu_);
  listFails_ = v;
}

std::vector<PowerVsCall> FakePowerVs::calls(const std::string& match) const {
  return log_.select([&](const PowerVsCall& c) {
    return match.empty() || (c.method + " " + c.path).find(match) != std::string::npos;
  });
}
std::vector<std::string> FakePowerVs::problems() const {
  return log_.problems();
}
std::map<std::string, FakePvmInstance> FakePowerVs::instances() const {
  std::lock_guard lock(mu_);
  return instances_;
}
int FakePowerVs::creates() const {
  std::lock_guard lock(mu_);
  return creates_;
}
int FakePowerVs::deletes() const {
  std::lock_guard lock(mu_);
  return deletes_;
}

void FakePowerVs::problem(std::string text) {
  log_.problem(std::move(text));
}

net::ServerResponse FakePowerVs::handle(const net::ServerRequest& req) {
  PowerVsCall call;
  call.method = req.method;
  call.crn = req.header("CRN");
  call.authorization = req.header("Authorization");
  call.tokenValid = iam_.valid(call.authorization);
  if (!req.body.empty()) {
    call.body = json::parse(req.body, nullptr, false);
    if (call.body.is_discarded()) {
      call.body = nullptr;
      call.path = req.path;
      call.status = 400;
      problem(req.method + " " + req.path + ": the body is not JSON");
      log_.record(call);
      return powerError(400, "bad request", "the request body is not valid JSON");
    }
  }
  std::string rest;
  bool identity = req.path == "/v1/apikeys/details";
  if (identity) {
    rest = req.path;
  } else if (req.path.rfind(kWorkspacePrefix, 0) == 0) {
    std::string tail = req.path.substr(sizeof kWorkspacePrefix - 1);
    auto slash = tail.find('/');
    std::string workspace = tail.substr(0, slash);
    rest = slash == std::string::npos ? "" : tail.substr(slash);
    if (workspace != kWorkspaceId) {
      call.path = req.path;
      call.status = 404;
      problem("a call to workspace " + workspace + " instead of " + kWorkspaceId);
      log_.record(call);
      return powerError(404, "not found", "cloud instance " + workspace + " does not exist");
    }
  } else {
    call.path = req.path;
    call.status = 404;
    problem("unknown path " + req.method + " " + req.path);
    log_.record(call);
    return powerError(404, "not found", "no such path");
  }
  call.path = rest;
  auto finish = [&](net::ServerResponse r) {
    call.status = r.status;
    log_.record(call);
    return r;
  };
  if (req.header("Authorization").empty()) {
    problem(req.method + " " + rest + ": no Authorization header");
    return finish(powerError(401, "unauthorized", "missing Authorization header"));
  }
  if (!call.tokenValid) {
    // An expired or unknown token; a client refreshes it, so this is no problem by itself.
    return finish(powerError(401, "unauthorized", "the IAM token is not valid or has expired"));
  }
  if (auto f = failures_.take(req.method + " " + rest))
    return finish(powerError(f->status, f->code, f->message, f->retryAfter));

  if (identity) {
    if (req.method != "GET") {
      problem("IAM Identity: " + req.method + " " + rest);
      return finish(powerError(405, "method not allowed", "GET only"));
    }
    std::string key = req.header("IAM-Apikey");
    if (key.empty()) {
      problem("IAM Identity: no IAM-Apikey header");
      return finish(jsonResponse(
          400, {{"errorCode", "BXNIM0102E"}, {"errorMessage", "IAM-Apikey header missing"}}));
    }
    if (key != ibmcloud::testing::FakeIam::kDefaultApiKey) {
      return finish(jsonResponse(
          404, {{"errorCode", "BXNIM0410E"}, {"errorMessage", "Provided API key not found."}}));
    }
    return finish(jsonResponse(200, {{"id", "ApiKey-0f1e2d3c"},
                                     {"entity_tag", "1-abc"},
                                     {"crn", "crn:v1:bluemix:public:iam-identity::a/" +
                                                 std::string(kAccountId) + "::apikey:ApiKey-0f1e"},
                                     {"locked", false},
                                     {"name", "peerpods"},
                                     {"iam_id", "IBMid-270000AAAA"},
                                     {"account_id", kAccountId}}));
  }

  if (call.crn.empty()) {
    problem(req.method + " " + rest + ": no CRN header");
    return finish(powerError(400, "bad request", "missing CRN header"));
  }
  if (call.crn != crn()) {
    problem(req.method + " " + rest + ": CRN " + call.crn + " does not name the workspace");
    return finish(powerError(403, "forbidden", "the CRN does not name this cloud instance"));
  }
  return finish(workspace(req, rest, call));
}

json FakePowerVs::instanceJson(FakePvmInstance& i, bool countPoll) {
  if (countPoll && i.status == "BUILD" && !neverActive_) {
    if (i.pollsLeft > 0) {
      --i.pollsLeft;
    } else {
      i.status = i.fault.empty() ? "ACTIVE" : "ERROR";
    }
  }
  json net = {{"networkID", kNetworkId},
              {"networkName", "pods"},
              {"macAddress", i.mac},
              {"href", "/pcloud/v1/networks/" + std::string(kNetworkId)},
              {"version", 4},
              {"type", dhcp_ ? "dynamic" : "fixed"}};
  if (!dhcp_ && !noAddresses_ && i.status == "ACTIVE") {
    net["ipAddress"] = i.ip;
    net["ip"] = i.ip;
    net["externalIP"] = i.externalIp;
  }
  json j = {{"pvmInstanceID", i.id},
            {"serverName", i.create.value("serverName", "")},
            {"imageID", i.create.value("imageID", "")},
            {"status", i.status},
            {"procType", i.create.value("procType", "")},
            {"processors", i.create.value("processors", 0.0)},
            {"memory", i.create.value("memory", 0.0)},
            {"sysType", i.create.value("sysType", "")},
            {"diskSize", 20},
            {"osType", "rhel"},
            {"href",
             "/pcloud/v1/cloud-instances/" + std::string(kWorkspaceId) + "/pvm-instances/" + i.id},
            {"networks", json::array({net})},
            {"addresses", json::array({net})}};
  if (i.status == "ERROR")
    j["fault"] = {{"code", 500}, {"message", i.fault}, {"details", "failed to deploy"}};
  return j;
}

net::ServerResponse FakePowerVs::createInstance(const json& b) {
  std::vector<std::string> bad;
  if (!b.is_object()) return powerError(400, "bad request", "the body is not an object");
  for (const auto& [k, v] : b.items())
    if (!knownCreateFields().contains(k)) bad.push_back("unknown field " + k);
  auto str = [&](const char* k, bool required) {
    auto it = b.find(k);
    if (it == b.end()) {
      if (required) bad.push_back(std::string(k) + " is required");
      return;
    }
    if (!it->is_string() || (required && it->get<std::string>().empty()))
      bad.push_back(std::string(k) + " must be a non-empty string");
  };
  str("serverName", true);
  str("imageID", true);
  str("procType", true);
  str("sysType", false);
  str("keyPairName", false);
  str("userData", false);
  for (const char* k : {"memory", "processors"}) {
    auto it = b.find(k);
    if (it == b.end() || !it->is_number() || !(it->get<double>() > 0))
      bad.push_back(std::string(k) + " must be a positive number");
  }
  if (b.contains("procType") && b["procType"].is_string()) {
    std::string p = b["procType"];
    if (p != "shared" && p != "capped" && p != "dedicated")
      bad.push_back("procType must be one of dedicated, shared, capped");
  }
  if (b.contains("serverName") && b["serverName"].is_string() &&
      b["serverName"].get<std::string>().size() > 47)
    bad.push_back("serverName is longer than 47 characters");
  if (b.contains("userData") && b["userData"].is_string() &&
      !isBase64(b["userData"].get<std::string>()))
    bad.push_back("userData is not base64");
  auto nets = b.find("networks");
  if (nets == b.end() || !nets->is_array() || nets->empty()) {
    bad.push_back("networks must be a non-empty array");
  } else {
    for (const auto& n : *nets) {
      if (!n.is_object() || !n.contains("networkID") || !n["networkID"].is_string()) {
        bad.push_back("networks[].networkID is required");
      } else if (n["networkID"] != kNetworkId) {
        return powerError(404, "not found",
                          "network " + n["networkID"].get<std::string>() + " does not exist");
      }
    }
  }
  if (!bad.empty()) {
    std::string all;
    for (const auto& x : bad) all += (all.empty() ? "" : "; ") + x;
    problem("POST /pvm-instances: " + all);
    return powerError(400, "bad request", "invalid PVMInstanceCreate: " + all);
  }
  if (b["imageID"] != kImageId)
    return powerError(404, "not found",
                      "image " + b["imageID"].get<std::string>() + " does not exist");

  std::lock_guard lock(mu_);
  ++counter_;
  char id[64], mac[32];
  std::snprintf(id, sizeof id, "9e8d7c6b-5a4f-4e3d-2c1b-%012d", counter_);
  std::snprintf(mac, sizeof mac, "FA:16:3E:00:%02X:%02X", (counter_ >> 8) & 0xff, counter_ & 0xff);
  FakePvmInstance i;
  i.create = b;
  i.id = id;
  i.mac = mac;
  i.ip = "198.18.10." + std::to_string(10 + counter_ % 200);
  i.externalIp = "198.19.10." + std::to_string(10 + counter_ % 200);
  i.status = "BUILD";
  i.pollsLeft = pollsBeforeActive_;
  if (nextBuildFault_) {
    i.fault = *nextBuildFault_;
    nextBuildFault_.reset();
  }
  auto& stored = instances_[i.id] = i;
  ++creates_;
  if (loseNextAnswer_) {
    loseNextAnswer_ = false;
    return powerError(500, "internal server error", "connection to the backend was reset");
  }
  return jsonResponse(201, json::array({instanceJson(stored, false)}));
}

net::ServerResponse FakePowerVs::workspace(const net::ServerRequest& req, const std::string& rest,
                                           PowerVsCall& call) {
  const std::string& m = req.method;
  if (rest == "/pvm-instances" && m == "POST") return createInstance(call.body);
  if (rest == "/pvm-instances" && m == "GET") {
    std::lock_guard lock(mu_);
    if (listFails_) return powerError(503, "service unavailable", "listing is down");
    json list = json::array();
    for (auto& [id, i] : instances_) list.push_back(instanceJson(i, false));
    return jsonResponse(200, {{"pvmInstances", list}});
  }
  const std::string instPrefix = "/pvm-instances/";
  if (rest.rfind(instPrefix, 0) == 0) {
    std::string id = rest.substr(instPrefix.size());
    std::lock_guard lock(mu_);
    auto it = instances_.find(id);
    if (it == instances_.end())
      return powerError(404, "not found", "pvm-instance " + id + " does not exist");
    if (m == "GET") return jsonResponse(200, instanceJson(it->second, true));
    if (m == "DELETE") {
      instances_.erase(it);
      ++deletes_;
      return jsonResponse(200, json::object());
    }
  }
  if (rest == "/services/dhcp" && m == "GET") {
    return jsonResponse(200, json::array({{{"id", kDhcpServerId},
                                           {"status", "ACTIVE"},
                                           {"network", {{"id", kNetworkId}, {"name", "pods"}}}}}));
  }
  if (rest == std::string("/services/dhcp/") + kDhcpServerId && m == "GET") {
    std::lock_guard lock(mu_);
    json leases = json::array();
    bool leased = dhcpPolls_++ >= leaseAfterPolls_;
    if (leased && !noAddresses_) {
      for (const auto& [id, i] : instances_)
        if (i.status == "ACTIVE")
          leases.push_back({{"instanceIP", i.ip}, {"instanceMacAddress", i.mac}});
    }
    return jsonResponse(200, {{"id", kDhcpServerId},
                              {"status", "ACTIVE"},
                              {"network", {{"id", kNetworkId}, {"name", "pods"}}},
                              {"leases", leases}});
  }
  if (rest.rfind("/services/dhcp/", 0) == 0 && m == "GET")
    return powerError(404, "not found", "dhcp server does not exist");
  if (rest == std::string("/networks/") + kNetworkId && m == "GET")
    return jsonResponse(200, {{"networkID", kNetworkId}, {"name", "pods"}, {"type", "vlan"}});
  if (rest.rfind("/networks/", 0) == 0 && m == "GET")
    return powerError(404, "not found", "network does not exist");
  if (rest == std::string("/images/") + kImageId && m == "GET")
    return jsonResponse(200, {{"imageID", kImageId}, {"name", "podvm"}, {"state", "active"}});
  if (rest.rfind("/images/", 0) == 0 && m == "GET")
    return powerError(404, "not found", "image does not exist");
  problem("unknown call " + m + " " + rest);
  return powerError(404, "not found", "no such path");
}

}  // namespace pp::providers::powervs::testing
