// The fake Google endpoints of the gcp tests (see fake_gcp.h).
#include "providers/gcp/fake_gcp.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <regex>
#include <set>
#include <stdexcept>

#include "base/encoding.h"

namespace pp::providers::gcp::testing {
namespace {

using json = nlohmann::json;

std::string b64urlDecode(std::string s) {
  for (auto& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (s.size() % 4) s.push_back('=');
  return encoding::base64Decode(s).value_or("");
}

net::ServerResponse jsonResponse(int status, const json& j, net::HeaderList extra = {}) {
  net::ServerResponse r;
  r.status = status;
  r.headers = std::move(extra);
  r.headers.emplace_back("Content-Type", "application/json; charset=UTF-8");
  r.body = j.dump();
  return r;
}

const char* statusName(int status) {
  switch (status) {
    case 400:
      return "INVALID_ARGUMENT";
    case 401:
      return "UNAUTHENTICATED";
    case 403:
      return "PERMISSION_DENIED";
    case 404:
      return "NOT_FOUND";
    case 409:
      return "ALREADY_EXISTS";
    case 429:
      return "RESOURCE_EXHAUSTED";
    case 503:
      return "UNAVAILABLE";
    default:
      return "INTERNAL";
  }
}

// Google's JSON error body.
net::ServerResponse googleError(int status, const std::string& reason, const std::string& message,
                                const std::string& retryAfter = "") {
  json e = {
      {"error",
       {{"code", status},
        {"message", message},
        {"errors", json::array({{{"message", message}, {"domain", "global"}, {"reason", reason}}})},
        {"status", statusName(status)}}}};
  net::HeaderList h;
  if (!retryAfter.empty()) h.emplace_back("Retry-After", retryAfter);
  return jsonResponse(status, e, h);
}

bool verifyRs256(const std::string& publicPem, const std::string& input, const std::string& sig) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(publicPem.data(), static_cast<int>(publicPem.size())), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!key) return false;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  return EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

}  // namespace

TestKey makeTestKey() {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_RSA_gen(2048), EVP_PKEY_free);
  if (!key) throw std::runtime_error("RSA key generation failed");
  auto toString = [](BIO* b) {
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    return std::string(data, static_cast<size_t>(n));
  };
  std::unique_ptr<BIO, decltype(&BIO_free)> priv(BIO_new(BIO_s_mem()), BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> pub(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PrivateKey(priv.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  PEM_write_bio_PUBKEY(pub.get(), key.get());
  return TestKey{toString(priv.get()), toString(pub.get())};
}

std::string TestKey::json(const std::string& tokenUri, const std::string& email) const {
  return nlohmann::json{{"type", "service_account"},
                        {"project_id", "proj-1"},
                        {"private_key_id", "0123456789abcdef0123456789abcdef01234567"},
                        {"private_key", privatePem},
                        {"client_email", email},
                        {"client_id", "100000000000000000001"},
                        {"auth_uri", "https://accounts.google.com/o/oauth2/auth"},
                        {"token_uri", tokenUri}}
      .dump();
}

FakeGcp::FakeGcp(std::string project, std::string zone, std::string publicKeyPem)
    : project_(std::move(project)), zone_(std::move(zone)), publicKeyPem_(std::move(publicKeyPem)) {
  net::HttpServerOptions o;
  o.name = "fake-gcp";
  o.threads = 2;
  auto s = net::HttpServer::start(o, [this](const net::ServerRequest& r) { return handle(r); });
  if (!s) throw std::runtime_error("fake gcp: " + s.error().message);
  server_ = std::move(*s);
  addMachineType("e2-medium", 2, 4096);
}

FakeGcp::~FakeGcp() {
  server_->stop();
}
std::string FakeGcp::url() const {
  return server_->baseUrl();
}
std::string FakeGcp::metadataHost() const {
  return "127.0.0.1:" + std::to_string(server_->port());
}

void FakeGcp::failNext(const std::string& match, int status, const std::string& reason,
                       const std::string& message, int times, const std::string& retryAfter) {
  failures_.add(match, {status, reason, message, retryAfter}, times);
}
void FakeGcp::failNextInsertOperation(const std::string& code, const std::string& message,
                                      int httpStatus, bool createAnyway) {
  std::lock_guard l(mu_);
  nextOpError_ = OpError{code, message, httpStatus, createAnyway};
}
void FakeGcp::addMachineType(const std::string& name, int cpus, int memoryMb, int gpus) {
  std::lock_guard l(mu_);
  json m = {{"kind", "compute#machineType"},
            {"id", "801" + std::to_string(machineTypes_.size())},
            {"name", name},
            {"description", std::to_string(cpus) + " vCPUs"},
            {"guestCpus", cpus},
            {"memoryMb", memoryMb},
            {"zone", zone_},
            {"selfLink", url() + "/compute/v1/projects/" + project_ + "/zones/" + zone_ +
                             "/machineTypes/" + name}};
  if (gpus > 0)
    m["accelerators"] = json::array(
        {{{"guestAcceleratorType", "nvidia-tesla-a100"}, {"guestAcceleratorCount", gpus}}});
  machineTypes_[name] = m;
}
void FakeGcp::addTag(const std::string& key, const std::string& value, const std::string& keyId,
                     const std::string& valueId) {
  std::lock_guard l(mu_);
  tags_[project_ + "/" + key + "/" + value] = {valueId, keyId};
}
void FakeGcp::addInstance(const std::string& name, const json& labels) {
  std::lock_guard l(mu_);
  FakeGcpInstance i;
  i.body = {{"name", name}, {"labels", labels}};
  i.networkIp = "10.128.0." + std::to_string(200 + instances_.size());
  i.id = std::to_string(7000000000000000000LL + static_cast<int64_t>(instances_.size()));
  instances_[name] = i;
}

std::vector<FakeCall> FakeGcp::calls(const std::string& match) const {
  return log_.select([&](const FakeCall& c) {
    return (c.method + " " + c.path).find(match) != std::string::npos;
  });
}
std::vector<std::string> FakeGcp::problems() const {
  return log_.problems();
}
std::map<std::string, FakeGcpInstance> FakeGcp::instances() const {
  std::lock_guard l(mu_);
  return instances_;
}
std::vector<std::string> FakeGcp::issuedTokens() const {
  std::lock_guard l(mu_);
  return tokens_;
}
std::vector<json> FakeGcp::jwtClaims() const {
  std::lock_guard l(mu_);
  return claims_;
}
std::vector<std::string> FakeGcp::assertions() const {
  std::lock_guard l(mu_);
  return assertions_;
}
void FakeGcp::problem(std::string text) {
  log_.problem(std::move(text));
}

net::ServerResponse FakeGcp::handle(const net::ServerRequest& req) {
  std::lock_guard l(mu_);
  FakeCall call{req.method, req.path, req.query, json(), req.header("Authorization")};
  if (!req.body.empty()) call.body = json::parse(req.body, nullptr, false);
  log_.record(call);
  const std::string key = req.method + " " + req.path;
  if (req.path == "/token" || req.path.rfind("/computeMetadata/", 0) == 0) {
    if (auto f = failures_.take(key))
      return googleError(f->status, f->code, f->message, f->retryAfter);
  }
  if (req.path == "/token") return token(req);
  if (req.path == "/computeMetadata/v1/instance/service-accounts/default/token")
    return metadataToken(req);

  // Everything else is an API call: it needs a token we issued.
  const std::string auth = req.header("Authorization");
  bool known = auth.rfind("Bearer ", 0) == 0 &&
               std::find(tokens_.begin(), tokens_.end(), auth.substr(7)) != tokens_.end();
  if (!known)
    return googleError(401, "authError", "Request had invalid authentication credentials.");
  if (auto f = failures_.take(key))
    return googleError(f->status, f->code, f->message, f->retryAfter);
  if (req.path.rfind("/v3/tagValues/namespaced", 0) == 0) {
    if (req.method != "GET") problem("tagValues.getNamespaced with " + req.method);
    auto it = tags_.find(req.queryParam("name").value_or(""));
    if (it == tags_.end())
      return googleError(403, "forbidden", "Permission denied on resource (or it may not exist).");
    return jsonResponse(
        200, {{"name", it->second.first},
              {"parent", it->second.second},
              {"shortName", req.queryParam("name")->substr(req.queryParam("name")->rfind('/') + 1)},
              {"namespacedName", *req.queryParam("name")}});
  }
  const std::string prefix = "/compute/v1/projects/";
  if (req.path.rfind(prefix, 0) != 0)
    return googleError(404, "notFound", "no such API: " + req.path);
  return compute(req, req.path.substr(prefix.size()));
}

net::ServerResponse FakeGcp::token(const net::ServerRequest& req) {
  if (req.method != "POST") problem("token endpoint called with " + req.method);
  if (req.header("Content-Type") != "application/x-www-form-urlencoded")
    problem("token request Content-Type: " + req.header("Content-Type"));
  // The form body, decoded like a query.
  net::ServerRequest form;
  form.query = req.body;
  if (form.queryParam("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer")
    return jsonResponse(
        400, {{"error", "unsupported_grant_type"}, {"error_description", "Invalid grant_type"}});
  std::string jwt = form.queryParam("assertion").value_or("");
  auto d1 = jwt.find('.'), d2 = jwt.rfind('.');
  if (d1 == std::string::npos || d1 == d2)
    return jsonResponse(400, {{"error", "invalid_grant"}, {"error_description", "Invalid JWT"}});
  json header = json::parse(b64urlDecode(jwt.substr(0, d1)), nullptr, false);
  json claims = json::parse(b64urlDecode(jwt.substr(d1 + 1, d2 - d1 - 1)), nullptr, false);
  if (!verifyRs256(publicKeyPem_, jwt.substr(0, d2), b64urlDecode(jwt.substr(d2 + 1))))
    return jsonResponse(
        400, {{"error", "invalid_grant"}, {"error_description", "Invalid JWT Signature."}});
  if (!header.is_object() || header.value("alg", "") != "RS256" ||
      header.value("typ", "") != "JWT" ||
      header.value("kid", "") != "0123456789abcdef0123456789abcdef01234567")
    problem("JWT header: " + header.dump());
  if (!claims.is_object() || !claims["iat"].is_number_integer() ||
      !claims["exp"].is_number_integer() ||
      claims["exp"].get<int64_t>() - claims["iat"].get<int64_t>() != 3600 ||
      claims.value("aud", "") != url() + "/token" || claims.value("iss", "").empty() ||
      claims.value("scope", "").find("https://www.googleapis.com/auth/compute") ==
          std::string::npos)
    problem("JWT claims: " + claims.dump());
  assertions_.push_back(jwt);
  claims_.push_back(claims);
  std::string t = "ya29.c.fake-sa-token-" + std::to_string(++counter_);
  tokens_.push_back(t);
  return jsonResponse(200, {{"access_token", t}, {"expires_in", 3599}, {"token_type", "Bearer"}});
}

net::ServerResponse FakeGcp::metadataToken(const net::ServerRequest& req) {
  if (req.header("Metadata-Flavor") != "Google") {
    net::ServerResponse r;
    r.status = 403;
    r.body = "Missing Metadata-Flavor:Google header.";
    return r;
  }
  std::string t = "ya29.c.fake-metadata-token-" + std::to_string(++counter_);
  tokens_.push_back(t);
  return jsonResponse(200, {{"access_token", t}, {"expires_in", 3599}, {"token_type", "Bearer"}},
                      {{"Metadata-Flavor", "Google"}});
}

net::ServerResponse FakeGcp::operation(const std::string& target, const std::string& type,
                                       bool done) {
  std::string name = "operation-" + std::to_string(1700000000000 + ++counter_) + "-6f0e2c1a";
  std::string base = url() + "/compute/v1/projects/" + project_ + "/zones/" + zone_;
  json op = {{"kind", "compute#operation"},
             {"id", std::to_string(900000 + counter_)},
             {"name", name},
             {"zone", base},
             {"operationType", type},
             {"targetLink", base + "/instances/" + target},
             {"status", "RUNNING"},
             {"progress", 0},
             {"insertTime", "2026-11-29T01:00:00.000-08:00"},
             {"selfLink", base + "/operations/" + name}};
  json doneOp = op;
  doneOp["status"] = "DONE";
  doneOp["progress"] = 100;
  doneOp["endTime"] = "2026-11-29T01:00:09.000-08:00";
  operations_[name] = doneOp;
  opWaits_[name] = waitsBeforeDone_;
  return jsonResponse(200, done ? doneOp : op);
}

net::ServerResponse FakeGcp::checkInsert(const json& body) {
  static const std::set<std::string> kInstanceFields = {"name",
                                                        "machineType",
                                                        "disks",
                                                        "metadata",
                                                        "networkInterfaces",
                                                        "labels",
                                                        "tags",
                                                        "confidentialInstanceConfig",
                                                        "shieldedInstanceConfig",
                                                        "scheduling",
                                                        "params",
                                                        "serviceAccounts",
                                                        "description",
                                                        "guestAccelerators"};
  if (!body.is_object())
    return googleError(400, "parseError", "This API does not support parsing form-encoded input.");
  for (const auto& [k, v] : body.items())
    if (!kInstanceFields.contains(k)) problem("insert: unexpected Instance field " + k);
  std::string name = body.value("name", "");
  if (!std::regex_match(name, std::regex("[a-z]([-a-z0-9]{0,61}[a-z0-9])?")))
    return googleError(400, "invalid", "Invalid value for field 'resource.name': '" + name + "'.");
  std::string mt = body.value("machineType", "");
  std::string mtPrefix = "zones/" + zone_ + "/machineTypes/";
  if (mt.rfind(mtPrefix, 0) != 0 || !machineTypes_.contains(mt.substr(mtPrefix.size())))
    return googleError(400, "invalid",
                       "Invalid value for field 'resource.machineType': '" + mt + "'.");
  const json& disks = body["disks"];
  if (!disks.is_array() || disks.size() != 1 || !disks[0].is_object() ||
      disks[0].value("boot", false) != true || disks[0].value("autoDelete", false) != true ||
      disks[0].value("type", "") != "PERSISTENT")
    problem("insert: disks: " + disks.dump());
  else {
    const json& ip = disks[0]["initializeParams"];
    if (!ip.is_object() || !ip["diskSizeGb"].is_string() || !ip["sourceImage"].is_string() ||
        ip.value("diskType", "").rfind("zones/" + zone_ + "/diskTypes/", 0) != 0)
      problem("insert: initializeParams: " + ip.dump());
  }
  const json& items = body["metadata"]["items"];
  bool userData = false;
  if (items.is_array())
    for (const auto& it : items)
      if (it.value("key", "") == "user-data" &&
          encoding::base64Decode(it.value("value", "")).has_value())
        userData = true;
  if (!userData) problem("insert: no base64 user-data metadata item");
  const json& nics = body["networkInterfaces"];
  if (!nics.is_array() || nics.size() != 1 || !nics[0].is_object())
    problem("insert: networkInterfaces: " + nics.dump());
  if (body.contains("labels")) {
    for (const auto& [k, v] : body["labels"].items())
      if (!v.is_string() || v.get<std::string>().size() > 63 ||
          !std::regex_match(v.get<std::string>(), std::regex("[-_a-z0-9]*")))
        problem("insert: bad label " + k);
  }
  if (body.contains("confidentialInstanceConfig")) {
    const json& c = body["confidentialInstanceConfig"];
    std::string t = c.value("confidentialInstanceType", "");
    if (t != "SEV" && t != "SEV_SNP" && t != "TDX")
      problem("insert: confidentialInstanceType " + t);
    if (body["scheduling"].value("onHostMaintenance", "") != "TERMINATE")
      problem("insert: a confidential VM without onHostMaintenance TERMINATE");
  }
  if (body.contains("params")) {
    for (const auto& [k, v] : body["params"]["resourceManagerTags"].items())
      if (k.rfind("tagKeys/", 0) != 0 || !v.is_string() ||
          v.get<std::string>().rfind("tagValues/", 0) != 0)
        problem("insert: resourceManagerTags " + k);
  }
  return {};
}

net::ServerResponse FakeGcp::compute(const net::ServerRequest& req, const std::string& rest) {
  // rest: "<project>/zones/<zone>/..." or "<project>/global/images/<image>"
  auto slash = rest.find('/');
  std::string project = rest.substr(0, slash);
  std::string tail = slash == std::string::npos ? "" : rest.substr(slash);
  if (tail.rfind("/global/images/", 0) == 0) {
    if (req.method != "GET") problem("images with " + req.method);
    std::string image = tail.substr(15);
    return jsonResponse(
        200, {{"kind", "compute#image"},
              {"id", "4242"},
              {"name", image},
              {"status", "READY"},
              {"diskSizeGb", std::to_string(imageSizeGb_)},
              {"selfLink", url() + "/compute/v1/projects/" + project + "/global/images/" + image}});
  }
  std::string zonePrefix = "/zones/" + zone_;
  if (project != project_ || tail.rfind(zonePrefix, 0) != 0)
    return googleError(404, "notFound",
                       "The resource 'projects/" + project + tail + "' was not found");
  std::string path = tail.substr(zonePrefix.size());
  auto requestIdOk = [&] {
    auto id = req.queryParam("requestId");
    if (!id ||
        !std::regex_match(
            *id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      problem(req.method + " " + req.path + " without a UUID requestId");
  };

  if (path == "/instances" && req.method == "POST") {
    requestIdOk();
    json body = json::parse(req.body, nullptr, false);
    auto bad = checkInsert(body);
    if (bad.status != 200) return bad;
    std::string name = body["name"];
    if (instances_.contains(name))
      return googleError(409, "alreadyExists",
                         "The resource 'projects/" + project_ + "/zones/" + zone_ + "/instances/" +
                             name + "' already exists");
    auto resp = operation(name, "insert", false);
    if (nextOpError_) {
      std::string opName = json::parse(resp.body)["name"];
      json& done = operations_[opName];
      done["error"] = {{"errors", json::array({{{"code", nextOpError_->code},
                                                {"message", nextOpError_->message}}})}};
      done["httpErrorStatusCode"] = nextOpError_->httpStatus;
      done["httpErrorMessage"] = statusName(nextOpError_->httpStatus);
      bool create = nextOpError_->createAnyway;
      nextOpError_.reset();
      if (!create) return resp;
    }
    FakeGcpInstance inst;
    inst.body = body;
    inst.id = std::to_string(5000000000000000000LL + counter_);
    inst.networkIp = "10.128.0." + std::to_string(10 + instances_.size());
    if (body["networkInterfaces"][0].contains("accessConfigs"))
      inst.natIp = "198.18.0." + std::to_string(10 + instances_.size());
    instances_[name] = inst;
    return resp;
  }
  if (path == "/instances" && req.method == "GET") {
    std::string filter = req.queryParam("filter").value_or("");
    std::smatch m;
    json items = json::array();
    for (const auto& [name, inst] : instances_) {
      const json& labels = inst.body.contains("labels") ? inst.body["labels"] : json::object();
      bool match = filter.empty();
      if (std::regex_match(filter, m, std::regex("labels\\.([-_a-z0-9]+):\\*")))
        match = labels.contains(m[1].str());
      else if (std::regex_match(filter, m, std::regex("labels\\.([-_a-z0-9]+)=([-_a-z0-9]+)")))
        match = labels.value(m[1].str(), "") == m[2].str();
      else if (!filter.empty())
        return googleError(
            400, "invalid",
            "Invalid value for field 'filter': '" + filter + "'. Invalid list filter expression.");
      if (match)
        items.push_back({{"name", name},
                         {"id", inst.id},
                         {"status", "RUNNING"},
                         {"labels", labels},
                         {"networkInterfaces", json::array({{{"networkIP", inst.networkIp}}})}});
    }
    json out = {{"kind", "compute#instanceList"},
                {"id", "projects/" + project_ + "/zones/" + zone_ + "/instances"}};
    if (!items.empty()) out["items"] = items;
    return jsonResponse(200, out);
  }
  if (path.rfind("/instances/", 0) == 0) {
    std::string name = path.substr(11);
    auto it = instances_.find(name);
    if (it == instances_.end())
      return googleError(404, "notFound",
                         "The resource 'projects/" + project_ + "/zones/" + zone_ + "/instances/" +
                             name + "' was not found");
    if (req.method == "DELETE") {
      requestIdOk();
      instances_.erase(it);
      return operation(name, "delete", false);
    }
    if (req.method != "GET") return googleError(405, "methodNotAllowed", "method not allowed");
    const FakeGcpInstance& inst = it->second;
    json nic = {{"kind", "compute#networkInterface"},
                {"name", "nic0"},
                {"network", "https://www.googleapis.com/compute/v1/projects/" + project_ +
                                "/global/networks/default"},
                {"stackType", "IPV4_ONLY"}};
    if (!noAddresses_) {
      nic["networkIP"] = inst.networkIp;
      if (!inst.natIp.empty())
        nic["accessConfigs"] = json::array({{{"kind", "compute#accessConfig"},
                                             {"type", "ONE_TO_ONE_NAT"},
                                             {"name", "External NAT"},
                                             {"natIP", inst.natIp},
                                             {"networkTier", "STANDARD"}}});
    }
    json out = {{"kind", "compute#instance"},
                {"id", inst.id},
                {"name", name},
                {"status", "RUNNING"},
                {"machineType", url() + "/compute/v1/projects/" + project_ + "/" +
                                    inst.body.value("machineType", "")},
                {"networkInterfaces", json::array({nic})}};
    if (inst.body.contains("labels")) out["labels"] = inst.body["labels"];
    return jsonResponse(200, out);
  }
  if (path.rfind("/operations/", 0) == 0 && path.size() > 17 &&
      path.substr(path.size() - 5) == "/wait") {
    if (req.method != "POST") problem("zoneOperations.wait with " + req.method);
    std::string name = path.substr(12, path.size() - 17);
    auto it = operations_.find(name);
    if (it == operations_.end())
      return googleError(404, "notFound",
                         "The resource 'projects/" + project_ + "/zones/" + zone_ + "/operations/" +
                             name + "' was not found");
    if (opWaits_[name]-- > 0) {
      json running = it->second;
      running["status"] = "RUNNING";
      running.erase("error");
      running.erase("httpErrorStatusCode");
      running.erase("httpErrorMessage");
      return jsonResponse(200, running);
    }
    return jsonResponse(200, it->second);
  }
  if (path == "/machineTypes" && req.method == "GET") {
    json items = json::array();
    for (const auto& [n, m] : machineTypes_) items.push_back(m);
    return jsonResponse(200, {{"kind", "compute#machineTypeList"}, {"items", items}});
  }
  if (path.rfind("/machineTypes/", 0) == 0 && req.method == "GET") {
    auto it = machineTypes_.find(path.substr(14));
    if (it == machineTypes_.end())
      return googleError(404, "notFound",
                         "The resource 'projects/" + project_ + "/zones/" + zone_ +
                             "/machineTypes/" + path.substr(14) + "' was not found");
    return jsonResponse(200, it->second);
  }
  return googleError(404, "notFound", "no such method: " + req.method + " " + req.path);
}

}  // namespace pp::providers::gcp::testing
