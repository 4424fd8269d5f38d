// The fake Azure endpoints for the azure provider tests (see fake_azure.h). Response shapes are
// those of the Azure REST API reference (virtualMachines, networkInterfaces, publicIPAddresses,
// virtualMachineSizes, resourceGroups, operation status) and of the Microsoft identity
// platform token endpoint and IMDS.
#include "providers/azure/fake_azure.h"

#include "base/encoding.h"

namespace pp::providers::azure::testing {
namespace {

using nlohmann::json;

constexpr char kRegion[] = "eastus";

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t i = s.find(sep, start);
    out.push_back(s.substr(start, i == std::string::npos ? i : i - start));
    if (i == std::string::npos) return out;
    start = i + 1;
  }
}

std::map<std::string, std::string> parseForm(const std::string& body) {
  std::map<std::string, std::string> out;
  for (const auto& kv : split(body, '&')) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    out[net::percentDecode(kv.substr(0, eq), true)] = net::percentDecode(kv.substr(eq + 1), true);
  }
  return out;
}

net::ServerResponse jsonResponse(int status, const json& body) {
  net::ServerResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json; charset=utf-8");
  r.body = body.dump();
  return r;
}

net::ServerResponse armError(int status, const std::string& code, const std::string& message) {
  return jsonResponse(status, json{{"error", {{"code", code}, {"message", message}}}});
}

bool has(const json& j, const char* key) {
  return j.is_object() && j.contains(key);
}

}  // namespace

FakeAzure::FakeAzure() {
  net::HttpServerOptions o;
  o.name = "fake-azure";
  o.threads = 2;
  auto s = net::HttpServer::start(o, [this](const net::ServerRequest& r) { return handle(r); });
  if (!s) throw std::runtime_error(s.error().message);
  server_ = std::move(*s);
}

FakeAzure::~FakeAzure() {
  server_->stop();
}

void FakeAzure::failNext(const std::string& what, int status, const std::string& code,
                         const std::string& message, int times, const std::string& retryAfter) {
  failures_.add(what, {status, code, message, retryAfter}, times);
}

std::vector<Call> FakeAzure::calls(const std::string& methodKind) const {
  return log_.select([&](const Call& c) { return methodKind.empty() || c.method == methodKind; });
}

std::vector<std::string> FakeAzure::problems() const {
  return log_.problems();
}
std::map<std::string, FakeVm> FakeAzure::vms() const {
  std::lock_guard lock(mu_);
  return vms_;
}
std::vector<std::string> FakeAzure::nics() const {
  std::lock_guard lock(mu_);
  return nics_;
}
std::vector<std::string> FakeAzure::orphans() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& n : nics_) out.push_back("nic/" + n);
  for (const auto& n : pips_) out.push_back("pip/" + n);
  for (const auto& n : disks_) out.push_back("disk/" + n);
  return out;
}
void FakeAzure::addOrphan(const std::string& kind, const std::string& name) {
  std::lock_guard lock(mu_);
  (kind == "nic" ? nics_ : kind == "pip" ? pips_ : disks_).push_back(name);
}
std::vector<std::string> FakeAzure::tokensIssued() const {
  std::lock_guard lock(mu_);
  return tokens_;
}

void FakeAzure::problem(std::string p) {
  log_.problem(std::move(p));
}

net::ServerResponse FakeAzure::handle(const net::ServerRequest& r) {
  std::lock_guard lock(mu_);
  std::vector<std::string> seg = split(r.path.substr(1), '/');
  std::string kind;
  if (seg.size() == 4 && seg[1] == "oauth2" && seg[2] == "v2.0" && seg[3] == "token") {
    kind = "token";
  } else if (r.path == "/metadata/identity/oauth2/token") {
    kind = "imds";
  } else if (seg.size() >= 2 && seg[0] == "subscriptions") {
    if (seg.size() == 7 && seg[6] == "vmSizes")
      kind = "sizes";
    else if (seg.size() == 8 && seg[6] == "operations")
      kind = "op";
    else if (seg.size() == 4 && seg[2] == "resourceGroups")
      kind = "group";
    else if (seg.size() == 7 && seg[6] == "virtualMachines")
      kind = "vms";
    else if (seg.size() == 8 && seg[6] == "virtualMachines")
      kind = "vm";
    else if (seg.size() == 8 && seg[6] == "networkInterfaces")
      kind = "nic";
    else if (seg.size() == 8 && seg[6] == "publicIPAddresses")
      kind = "pip";
    else if (seg.size() == 8 && seg[6] == "disks")
      kind = "disk";
  }
  std::string methodKind = r.method + " " + kind;
  log_.record({methodKind, r.path, r.query, r.body, r.header("Authorization")});
  if (kind.empty()) {
    problem("unknown path " + r.method + " " + r.path);
    return armError(404, "InvalidResourceType", "no such path");
  }
  if (auto f = failures_.take(methodKind)) {
    auto resp =
        kind == "token" || kind == "imds"
            ? jsonResponse(f->status, json{{"error", f->code}, {"error_description", f->message}})
            : armError(f->status, f->code, f->message);
    if (f->retryAfter.starts_with("ms:"))
      resp.headers.emplace_back("x-ms-retry-after-ms", f->retryAfter.substr(3));
    else if (!f->retryAfter.empty())
      resp.headers.emplace_back("Retry-After", f->retryAfter);
    return resp;
  }
  if (kind == "token" || kind == "imds") return token(r, kind == "imds");
  return arm(r, kind, seg);
}

net::ServerResponse FakeAzure::token(const net::ServerRequest& r, bool imds) {
  if (imds) {
    if (r.method != "GET") problem("IMDS token: method " + r.method);
    if (r.header("Metadata") != "true")
      return jsonResponse(400,
                          json{{"error", "invalid_request"},
                               {"error_description", "Required metadata header not specified"}});
    if (r.queryParam("api-version").value_or("") != "2018-02-01")
      problem("IMDS token: api-version " + r.queryParam("api-version").value_or("(none)"));
    if (r.queryParam("resource").value_or("") != (audience.empty() ? url() : audience) + "/")
      problem("IMDS token: resource " + r.queryParam("resource").value_or("(none)"));
  } else {
    if (r.method != "POST") problem("token: method " + r.method);
    if (r.header("Content-Type") != "application/x-www-form-urlencoded")
      problem("token: content type " + r.header("Content-Type"));
    if (r.path != std::string("/") + kTenant + "/oauth2/v2.0/token")
      problem("token: tenant path " + r.path);
    auto f = parseForm(r.body);
    if (f["grant_type"] != "client_credentials") problem("token: grant_type " + f["grant_type"]);
    if (f["scope"] != (audience.empty() ? url() : audience) + "/.default")
      problem("token: scope " + f["scope"]);
    if (f["client_id"] != kClientId)
      return jsonResponse(400, json{{"error", "unauthorized_client"},
                                    {"error_description", "AADSTS700016: Application not found."}});
    bool secretOk = f.count("client_secret") && f["client_secret"] == kClientSecret;
    bool assertionOk =
        f["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" &&
        f["client_assertion"] == "federated.jwt.token";
    if (!secretOk && !assertionOk)
      return jsonResponse(
          401, json{{"error", "invalid_client"},
                    {"error_description", "AADSTS7000215: Invalid client secret provided."}});
  }
  std::string tok = "arm-token-" + std::to_string(++counter_);
  tokens_.push_back(tok);
  json body = {{"token_type", "Bearer"}, {"access_token", tok}};
  if (imds) {
    body["expires_in"] = std::to_string(tokenLifetime.load());  // IMDS sends strings
    body["resource"] = url() + "/";
  } else {
    body["expires_in"] = tokenLifetime.load();
    body["ext_expires_in"] = tokenLifetime.load();
  }
  return jsonResponse(200, body);
}

net::ServerResponse FakeAzure::arm(const net::ServerRequest& r, const std::string& kind,
                                   const std::vector<std::string>& seg) {
  // Bearer token.
  std::string auth = r.header("Authorization");
  bool known = false;
  for (const auto& t : tokens_) known = known || auth == "Bearer " + t;
  if (!known) {
    return armError(401, "InvalidAuthenticationToken", "The access token is missing or invalid.");
  }
  if (seg[1] != kSub) problem("subscription " + seg[1]);
  std::string api = r.queryParam("api-version").value_or("");
  std::string wantApi =
      kind == "group"  ? "2021-04-01"
      : kind == "disk" ? "2023-10-02"
      : (seg.size() > 5 && seg[kind == "sizes" || kind == "op" ? 3 : 5] == "Microsoft.Network")
          ? "2023-05-01"
          : "2023-03-01";
  if (api != wantApi) problem(r.method + " " + kind + ": api-version " + api + ", want " + wantApi);
  if (kind != "group" && kind != "sizes" && kind != "op" && seg[3] != kGroup)
    problem("resource group " + seg[3]);
  const std::string base = std::string("/subscriptions/") + kSub + "/resourceGroups/" + kGroup;
  const std::string name = seg.size() == 8 ? seg[7] : "";
  auto vmJson = [&](const std::string& n, const FakeVm& vm) {
    json props = {{"provisioningState", vm.state},
                  {"vmId", "3a1f0c7e-0000-4000-8000-0000000000aa"},
                  {"hardwareProfile", vm.body["properties"]["hardwareProfile"]}};
    json nics = json::array();
    for (const auto& nic : nics_) {
      if (nic == n + "-net")
        nics.push_back({{"id", base + "/providers/Microsoft.Network/networkInterfaces/" + nic},
                        {"properties", {{"primary", true}, {"deleteOption", "Delete"}}}});
    }
    props["networkProfile"] = {{"networkInterfaces", nics}};
    return json{{"id", base + "/providers/Microsoft.Compute/virtualMachines/" + n},
                {"name", n},
                {"type", "Microsoft.Compute/virtualMachines"},
                {"location", kRegion},
                {"tags", vm.body.value("tags", json::object())},
                {"properties", props}};
  };
  auto startOp = [&](const std::string& vm, bool create, int status, const json& body) {
    std::string id = "op-" + std::to_string(++counter_);
    ops_[id] = Op{vm, create, 0};
    auto resp = jsonResponse(status, body);
    std::string opUrl = url() + "/subscriptions/" + kSub +
                        "/providers/Microsoft.Compute/locations/" + kRegion + "/operations/" + id +
                        "?api-version=2023-03-01";
    if (!create && deleteWithLocationOnly) {
      resp.headers.emplace_back("Location", opUrl + "&monitor=true");
    } else {
      resp.headers.emplace_back("Azure-AsyncOperation", opUrl);
    }
    resp.headers.emplace_back("Retry-After", "10");
    return resp;
  };

  if (kind == "sizes" && r.method == "GET") {
    json v = json::array();
    auto add = [&](const char* n, int cores, int mem) {
      v.push_back({{"name", n},
                   {"numberOfCores", cores},
                   {"osDiskSizeInMB", 1047552},
                   {"resourceDiskSizeInMB", 0},
                   {"memoryInMB", mem},
                   {"maxDataDiskCount", 4}});
    };
    add("Standard_D2s_v5", 2, 8192);
    add("Standard_DC2as_v5", 2, 8192);
    add("Standard_DC4as_v5", 4, 16384);
    add("Standard_DC8as_v5", 8, 32768);
    return jsonResponse(200, json{{"value", v}});
  }
  if (kind == "group" && r.method == "GET") {
    if (seg[3] != kGroup)
      return armError(404, "ResourceGroupNotFound",
                      "Resource group '" + seg[3] + "' could not be found.");
    return jsonResponse(200, json{{"id", base},
                                  {"name", kGroup},
                                  {"location", kRegion},
                                  {"properties", {{"provisioningState", "Succeeded"}}}});
  }
  if (kind == "op" && r.method == "GET") {
    auto it = ops_.find(seg[7]);
    if (it == ops_.end()) return armError(404, "NotFound", "no such operation");
    Op& op = it->second;
    bool monitor = r.queryParam("monitor").has_value();
    if (++op.polls <= pollsUntilDone) {
      if (monitor) {
        net::ServerResponse resp;
        resp.status = 202;
        resp.headers.emplace_back("Location", url() + r.target);
        return resp;
      }
      auto resp = jsonResponse(200, json{{"name", seg[7]},
                                         {"status", "InProgress"},
                                         {"startTime", "2026-11-29T01:00:00+00:00"}});
      resp.headers.emplace_back("Retry-After", "10");
      return resp;
    }
    json done = {{"name", seg[7]},
                 {"startTime", "2026-11-29T01:00:00+00:00"},
                 {"endTime", "2026-11-29T01:01:00+00:00"}};
    auto vm = vms_.find(op.vm);
    if (op.create) {
      if (vm == vms_.end()) return armError(404, "NotFound", "VM went away");
      disks_.push_back(op.vm + "-disk");
      if (!failCreateCode.empty()) {
        vm->second.state = "Failed";
        if (leaveNicOnFailure) nics_.push_back(op.vm + "-net");
        done["status"] = "Failed";
        done["error"] = {{"code", failCreateCode}, {"message", failCreateMessage}};
        return jsonResponse(200, done);
      }
      vm->second.state = "Succeeded";
      nics_.push_back(op.vm + "-net");
      vm->second.privateIp = "10.0.0." + std::to_string(3 + counter_ % 250);
      const json& ipc =
          vm->second.body["properties"]["networkProfile"]["networkInterfaceConfigurations"][0]
                         ["properties"]["ipConfigurations"][0];
      if (ipc["properties"].contains("publicIPAddressConfiguration")) {
        pips_.push_back(op.vm + "-ip");
        vm->second.publicIp = "20.81.1." + std::to_string(3 + counter_ % 250);
      }
    } else if (vm != vms_.end()) {
      // deleteOption Delete: the NIC, public IP and disk go with the VM.
      std::erase(nics_, op.vm + "-net");
      std::erase(pips_, op.vm + "-ip");
      std::erase(disks_, op.vm + "-disk");
      vms_.erase(vm);
    }
    done["status"] = "Succeeded";
    if (monitor) return jsonResponse(200, json());
    return jsonResponse(200, done);
  }
  if (kind == "vms" && r.method == "GET") {
    json v = json::array();
    for (const auto& [n, vm] : vms_) v.push_back(vmJson(n, vm));
    return jsonResponse(200, json{{"value", v}});
  }
  if (kind == "vm" && r.method == "PUT") {
    if (r.header("Content-Type") != "application/json") problem("VM PUT: content type");
    json b = json::parse(r.body, nullptr, false);
    auto bad = [&](const std::string& what) {
      problem("VM PUT: " + what);
      return armError(400, "InvalidParameter", "VM PUT: " + what);
    };
    if (!b.is_object()) return bad("body is not JSON");
    if (b.value("location", "") != kRegion) return bad("location");
    const json& p = b.value("properties", json::object());
    if (!p.is_object()) return bad("properties");
    if (!p.contains("hardwareProfile") ||
        !p["hardwareProfile"].value("vmSize", "").starts_with("Standard_"))
      return bad("hardwareProfile.vmSize");
    const json& sp = p.value("storageProfile", json::object());
    const json& img = sp.value("imageReference", json::object());
    int forms = has(img, "id") + has(img, "communityGalleryImageId") +
                has(img, "sharedGalleryImageId") + has(img, "publisher");
    if (forms != 1) return bad("storageProfile.imageReference");
    if (has(img, "publisher") && !(has(img, "offer") && has(img, "sku") && has(img, "version")))
      return bad("imageReference marketplace fields");
    const json& od = sp.value("osDisk", json::object());
    if (od.value("createOption", "") != "FromImage" || od.value("deleteOption", "") != "Delete" ||
        od.value("name", "") != name + "-disk" || !has(od, "managedDisk"))
      return bad("storageProfile.osDisk");
    const json& os = p.value("osProfile", json::object());
    if (os.value("computerName", "") != name || os.value("adminUsername", "").empty())
      return bad("osProfile");
    const json& keys = os.value("linuxConfiguration", json::object())
                           .value("ssh", json::object())
                           .value("publicKeys", json::array());
    if (keys.size() != 1 || !keys[0].value("keyData", "").starts_with("ssh-rsa "))
      return bad("osProfile.linuxConfiguration.ssh.publicKeys");
    const json& np = p.value("networkProfile", json::object());
    if (np.value("networkApiVersion", "").empty()) return bad("networkProfile.networkApiVersion");
    if (has(np, "networkInterfaces")) return bad("networkProfile.networkInterfaces (want inline)");
    const json& nics = np.value("networkInterfaceConfigurations", json::array());
    if (nics.size() != 1 || nics[0].value("name", "") != name + "-net")
      return bad("networkInterfaceConfigurations");
    const json& nicp = nics[0].value("properties", json::object());
    if (nicp.value("deleteOption", "") != "Delete") return bad("NIC deleteOption");
    const json& ipcs = nicp.value("ipConfigurations", json::array());
    if (ipcs.size() != 1 || ipcs[0].value("name", "").empty() ||
        !ipcs[0].value("properties", json::object()).value("subnet", json::object()).contains("id"))
      return bad("ipConfigurations");
    auto ud = encoding::base64Decode(p.value("userData", ""));
    if (!ud || ud->empty()) return bad("userData is not base64");
    if (has(p, "securityProfile")) {
      const json& sec = p["securityProfile"];
      if (sec.value("securityType", "") != "ConfidentialVM" ||
          !sec.value("uefiSettings", json::object()).value("vTpmEnabled", false))
        return bad("securityProfile");
    }
    FakeVm vm;
    vm.body = b;
    vms_[name] = vm;
    json answer = vmJson(name, vms_[name]);
    return startOp(name, true, 201, answer);
  }
  if (kind == "vm" && r.method == "GET") {
    auto it = vms_.find(name);
    if (it == vms_.end())
      return armError(404, "ResourceNotFound",
                      "The Resource 'Microsoft.Compute/virtualMachines/" + name +
                          "' under resource group '" + kGroup + "' was not found.");
    return jsonResponse(200, vmJson(name, it->second));
  }
  if (kind == "vm" && r.method == "DELETE") {
    if (!vms_.count(name)) {
      net::ServerResponse resp;
      resp.status = 204;
      return resp;
    }
    return startOp(name, false, 202, json());
  }
  if (kind == "nic" && r.method == "GET") {
    if (std::find(nics_.begin(), nics_.end(), name) == nics_.end())
      return armError(404, "NotFound", "Resource " + name + " not found.");
    std::string vmName = name.substr(0, name.size() - 4);
    const FakeVm& vm = vms_.at(vmName);
    json ipp = {{"privateIPAddress", vm.privateIp},
                {"privateIPAllocationMethod", "Dynamic"},
                {"provisioningState", "Succeeded"}};
    if (!vm.publicIp.empty())
      ipp["publicIPAddress"] = {
          {"id", base + "/providers/Microsoft.Network/publicIPAddresses/" + vmName + "-ip"}};
    return jsonResponse(
        200,
        json{
            {"id", base + "/providers/Microsoft.Network/networkInterfaces/" + name},
            {"name", name},
            {"properties",
             {{"provisioningState", "Succeeded"},
              {"ipConfigurations", json::array({{{"name", "ip-config"}, {"properties", ipp}}})}}}});
  }
  if (kind == "pip" && r.method == "GET") {
    if (std::find(pips_.begin(), pips_.end(), name) == pips_.end())
      return armError(404, "NotFound", "Resource " + name + " not found.");
    const FakeVm& vm = vms_.at(name.substr(0, name.size() - 3));
    return jsonResponse(
        200,
        json{{"name", name},
             {"properties", {{"ipAddress", vm.publicIp}, {"publicIPAllocationMethod", "Static"}}}});
  }
  if ((kind == "nic" || kind == "pip" || kind == "disk") && r.method == "DELETE") {
    auto& list = kind == "nic" ? nics_ : kind == "pip" ? pips_ : disks_;
    if (std::erase(list, name) == 0) {
      net::ServerResponse resp;
      resp.status = 204;
      return resp;
    }
    return jsonResponse(200, json());
  }
  problem("unexpected " + r.method + " " + kind);
  return armError(405, "MethodNotAllowed", r.method + " " + kind);
}

}  // namespace pp::providers::azure::testing
