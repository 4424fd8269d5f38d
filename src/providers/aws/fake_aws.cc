// The fake EC2/STS/IMDS server for the aws provider's tests (see fake_aws.h).
#include "providers/aws/fake_aws.h"

#include <ctime>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "base/encoding.h"
#include "base/files.h"
#include "base/strings.h"
#include "base/utc_time.h"
#include "providers/aws/credentials.h"
#include "providers/aws/sigv4.h"

namespace pp::providers::aws::testing {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

using strings::xmlEscape;

Params parseForm(const std::string& body) {
  Params out;
  size_t pos = 0;
  while (pos <= body.size() && !body.empty()) {
    size_t amp = body.find('&', pos);
    std::string item = body.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    size_t eq = item.find('=');
    out.emplace_back(net::percentDecode(item.substr(0, eq), true),
                     eq == std::string::npos ? "" : net::percentDecode(item.substr(eq + 1), true));
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return out;
}

std::string get(const Params& p, const std::string& k) {
  for (const auto& [a, b] : p)
    if (a == k) return b;
  return "";
}

net::ServerResponse xml(int status, std::string body) {
  return net::ServerResponse{status, {{"Content-Type", "text/xml;charset=UTF-8"}}, std::move(body)};
}

net::ServerResponse ec2Error(int status, const std::string& code, const std::string& message) {
  return xml(status,
             renderTemplate("ec2_error.xml", {{"CODE", code}, {"MESSAGE", xmlEscape(message)}}));
}

std::string tagsXml(const std::map<std::string, std::string>& tags) {
  std::string out;
  for (const auto& [k, v] : tags)
    out += "<item><key>" + xmlEscape(k) + "</key><value>" + xmlEscape(v) + "</value></item>";
  return out;
}

}  // namespace

std::string renderTemplate(const std::string& name,
                           const std::map<std::string, std::string>& values) {
  auto text = files::readFile(std::string(PP_AWS_TESTDATA) + "/" + name);
  if (!text) throw std::runtime_error("missing test template " + name);
  std::string s = *text;
  for (const auto& [k, v] : values) {
    std::string key = "{{" + k + "}}";
    for (size_t pos = s.find(key); pos != std::string::npos; pos = s.find(key, pos + v.size()))
      s.replace(pos, key.size(), v);
  }
  return s;
}

std::string RecordedCall::param(const std::string& name) const {
  return get(params, name);
}
bool RecordedCall::has(const std::string& name) const {
  for (const auto& [k, v] : params)
    if (k == name) return true;
  return false;
}

FakeAws::FakeAws() {
  net::HttpServerOptions o;
  o.threads = 2;
  o.name = "fake-aws";
  auto s = net::HttpServer::start(o, [this](const net::ServerRequest& r) { return handle(r); });
  if (!s) throw std::runtime_error("fake aws: " + s.error().message);
  server_ = std::move(*s);
}

FakeAws::~FakeAws() {
  server_->stop();
}

void FakeAws::acceptCredentials(const std::string& key, const std::string& secret,
                                const std::string& token) {
  std::lock_guard l(mu_);
  creds_[key] = {secret, token};
}

void FakeAws::failNext(const std::string& action, int status, const std::string& code,
                       const std::string& message, int times) {
  failures_.add(action, {status, code, message, ""}, times);
}

std::vector<RecordedCall> FakeAws::calls(const std::string& action) const {
  return log_.select([&](const RecordedCall& c) { return action.empty() || c.action == action; });
}

std::vector<std::string> FakeAws::problems() const {
  return log_.problems();
}

std::map<std::string, FakeNic> FakeAws::nics() const {
  std::lock_guard l(mu_);
  return nics_;
}

std::map<std::string, FakeAddress> FakeAws::addresses() const {
  std::lock_guard l(mu_);
  return addresses_;
}

// Network interfaces and Elastic IPs (mu_ held). Answers follow the EC2 API reference's shapes.
net::ServerResponse FakeAws::networkAction(const RecordedCall& call) {
  const std::string ns = R"( xmlns="http://ec2.amazonaws.com/doc/2016-11-15/")";
  auto answer = [&](const std::string& inner) {
    return xml(200, "<" + call.action + "Response" + ns + "><requestId>req-1</requestId>" + inner +
                        "</" + call.action + "Response>");
  };
  char buf[40];
  if (call.action == "CreateNetworkInterface") {
    if (call.param("SubnetId").empty()) return ec2Error(400, "MissingParameter", "SubnetId");
    std::snprintf(buf, sizeof buf, "eni-0%016x", ++nextResource_);
    FakeNic n;
    n.id = buf;
    nics_[n.id] = n;
    return answer("<networkInterface><networkInterfaceId>" + n.id +
                  "</networkInterfaceId><subnetId>" + call.param("SubnetId") +
                  "</subnetId><status>pending</status><privateIpAddress>10.0.1." +
                  std::to_string(nextResource_) + "</privateIpAddress></networkInterface>");
  }
  if (call.action == "DescribeNetworkInterfaces") {
    auto it = nics_.find(call.param("NetworkInterfaceId.1"));
    if (it == nics_.end()) {
      return ec2Error(400, "InvalidNetworkInterfaceID.NotFound",
                      "The networkInterface ID does not exist");
    }
    if (it->second.status == "pending") it->second.status = "available";
    return answer("<networkInterfaceSet><item><networkInterfaceId>" + it->first +
                  "</networkInterfaceId><status>" + it->second.status +
                  "</status></item></networkInterfaceSet>");
  }
  if (call.action == "AttachNetworkInterface") {
    auto it = nics_.find(call.param("NetworkInterfaceId"));
    if (it == nics_.end())
      return ec2Error(400, "InvalidNetworkInterfaceID.NotFound", "no such interface");
    if (it->second.status != "available") {
      return ec2Error(400, "InvalidNetworkInterface.InUse",
                      "Interface: [" + it->first + "] in use.");
    }
    auto inst = instances_.find(call.param("InstanceId"));
    if (inst == instances_.end() || inst->second.state != "running") {
      return ec2Error(400, "IncorrectInstanceState",
                      "The instance is not in a valid state for this operation.");
    }
    if (call.param("DeviceIndex") != "1")
      return ec2Error(400, "InvalidParameterValue", "DeviceIndex");
    std::snprintf(buf, sizeof buf, "eni-attach-0%012x", ++nextResource_);
    it->second.status = "in-use";
    it->second.instanceId = inst->first;
    it->second.attachmentId = buf;
    return answer(std::string("<attachmentId>") + buf +
                  "</attachmentId><networkCardIndex>0</networkCardIndex>");
  }
  if (call.action == "ModifyNetworkInterfaceAttribute") {
    auto it = nics_.find(call.param("NetworkInterfaceId"));
    if (it == nics_.end() || it->second.attachmentId != call.param("Attachment.AttachmentId")) {
      return ec2Error(400, "InvalidAttachmentID.NotFound", "no such attachment");
    }
    it->second.deleteOnTermination = call.param("Attachment.DeleteOnTermination") == "true";
    return answer("<return>true</return>");
  }
  if (call.action == "DeleteNetworkInterface") {
    auto it = nics_.find(call.param("NetworkInterfaceId"));
    if (it == nics_.end())
      return ec2Error(400, "InvalidNetworkInterfaceID.NotFound", "no such interface");
    if (it->second.status == "in-use")
      return ec2Error(400, "InvalidNetworkInterface.InUse", "in use");
    nics_.erase(it);
    return answer("<return>true</return>");
  }
  if (call.action == "AllocateAddress") {
    if (call.param("Domain") != "vpc") return ec2Error(400, "InvalidParameterValue", "Domain");
    std::snprintf(buf, sizeof buf, "eipalloc-0%012x", ++nextResource_);
    FakeAddress a;
    a.allocationId = buf;
    a.publicIp = "198.19.0." + std::to_string(nextResource_);
    addresses_[a.allocationId] = a;
    return answer("<publicIp>" + a.publicIp + "</publicIp><domain>vpc</domain><allocationId>" +
                  a.allocationId + "</allocationId>");
  }
  if (call.action == "AssociateAddress") {
    auto it = addresses_.find(call.param("AllocationId"));
    if (it == addresses_.end())
      return ec2Error(400, "InvalidAllocationID.NotFound", "no such allocation");
    if (!nics_.count(call.param("NetworkInterfaceId"))) {
      return ec2Error(400, "InvalidNetworkInterfaceID.NotFound", "no such interface");
    }
    std::snprintf(buf, sizeof buf, "eipassoc-0%012x", ++nextResource_);
    it->second.associationId = buf;
    it->second.nicId = call.param("NetworkInterfaceId");
    return answer(std::string("<return>true</return><associationId>") + buf + "</associationId>");
  }
  if (call.action == "DescribeAddresses") {
    std::string items;
    for (const auto& [id, a] : addresses_) {
      auto nic = nics_.find(a.nicId);
      std::string inst = nic == nics_.end() ? "" : nic->second.instanceId;
      if (call.param("Filter.1.Name") == "instance-id" && inst != call.param("Filter.1.Value.1"))
        continue;
      items +=
          "<item><instanceId>" + inst + "</instanceId><publicIp>" + a.publicIp +
          "</publicIp><allocationId>" + id + "</allocationId>" +
          (a.associationId.empty() ? ""
                                   : "<associationId>" + a.associationId + "</associationId>") +
          "<domain>vpc</domain><networkInterfaceId>" + a.nicId + "</networkInterfaceId></item>";
    }
    return answer("<addressesSet>" + items + "</addressesSet>");
  }
  if (call.action == "DisassociateAddress") {
    for (auto& [id, a] : addresses_) {
      if (a.associationId == call.param("AssociationId")) {
        a.associationId.clear();
        a.nicId.clear();
        return answer("<return>true</return>");
      }
    }
    return ec2Error(400, "InvalidAssociationID.NotFound", "no such association");
  }
  if (call.action == "ReleaseAddress") {
    auto it = addresses_.find(call.param("AllocationId"));
    if (it == addresses_.end())
      return ec2Error(400, "InvalidAllocationID.NotFound", "no such allocation");
    if (!it->second.associationId.empty())
      return ec2Error(400, "InvalidIPAddress.InUse", "Address is in use");
    addresses_.erase(it);
    return answer("<return>true</return>");
  }
  return ec2Error(400, "InvalidAction",
                  "The action " + call.action + " is not valid for this web service.");
}

std::map<std::string, FakeInstance> FakeAws::instances() const {
  std::lock_guard l(mu_);
  return instances_;
}

// Recomputes the signature over what arrived; "" when it is right.
std::string FakeAws::checkSignature(const net::ServerRequest& r, std::string* accessKey) {
  std::string auth = r.header("Authorization");
  const std::string prefix = "AWS4-HMAC-SHA256 Credential=";
  if (auth.rfind(prefix, 0) != 0) return "no SigV4 Authorization header";
  size_t c1 = auth.find(", SignedHeaders=");
  size_t c2 = auth.find(", Signature=");
  if (c1 == std::string::npos || c2 == std::string::npos) return "malformed Authorization header";
  std::string credential = auth.substr(prefix.size(), c1 - prefix.size());
  std::string signedHeaders = auth.substr(c1 + 16, c2 - c1 - 16);
  std::string signature = auth.substr(c2 + 12);
  // AKID/20261129/us-east-1/ec2/aws4_request
  std::vector<std::string> parts;
  for (size_t pos = 0;;) {
    size_t slash = credential.find('/', pos);
    parts.push_back(
        credential.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos));
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  if (parts.size() != 5 || parts[4] != "aws4_request")
    return "malformed credential scope " + credential;
  *accessKey = parts[0];
  std::string secret, token;
  {
    std::lock_guard l(mu_);
    auto it = creds_.find(parts[0]);
    if (it == creds_.end()) return "unknown access key " + parts[0];
    secret = it->second.first;
    token = it->second.second;
  }
  if (parts[2] != region) return "scope region " + parts[2] + ", expected " + region;
  if (parts[3] != "ec2") return "scope service " + parts[3];
  std::string date = r.header("X-Amz-Date");
  if (date.size() != 16 || date.substr(0, 8) != parts[1])
    return "X-Amz-Date " + date + " does not match the scope";
  if (r.header("X-Amz-Security-Token") != token) return "wrong or missing session token";
  if (!token.empty() && signedHeaders.find("x-amz-security-token") == std::string::npos)
    return "session token not signed";
  for (const char* must : {"host", "x-amz-date", "content-type"}) {
    if (signedHeaders.find(must) == std::string::npos) return std::string(must) + " not signed";
  }
  SigningRequest s;
  s.method = r.method;
  s.path = net::percentDecode(r.path, false);
  s.query = r.query;
  s.body = r.body;
  for (size_t pos = 0;;) {
    size_t semi = signedHeaders.find(';', pos);
    std::string name =
        signedHeaders.substr(pos, semi == std::string::npos ? std::string::npos : semi - pos);
    s.headers.emplace_back(name, r.header(name));
    if (semi == std::string::npos) break;
    pos = semi + 1;
  }
  std::tm tm{};
  strptime(date.c_str(), "%Y%m%dT%H%M%SZ", &tm);
  SigningScope scope{parts[2], parts[3], std::chrono::system_clock::from_time_t(timegm(&tm))};
  std::string expected = encoding::hexEncode(
      hmacSha256(signingKey(secret, scope), stringToSign(scope, canonicalRequest(s, nullptr))));
  if (expected != signature) return "signature mismatch";
  return "";
}

net::ServerResponse FakeAws::handle(const net::ServerRequest& r) {
  if (r.path.rfind("/latest/", 0) == 0) return imdsAnswer(r);
  if (r.method != "POST") return xml(405, "");
  Params params = parseForm(r.body);
  std::string action = get(params, "Action");
  if (action == "AssumeRoleWithWebIdentity") return sts(params);
  return ec2(r, std::move(params));
}

net::ServerResponse FakeAws::ec2(const net::ServerRequest& r, Params params) {
  std::string action = get(params, "Action");
  std::string accessKey;
  if (std::string why = checkSignature(r, &accessKey); !why.empty()) {
    log_.problem(action + ": " + why);
    return ec2Error(why == "signature mismatch" ? 403 : 401,
                    why == "signature mismatch" ? "SignatureDoesNotMatch" : "AuthFailure", why);
  }
  {
    // Like EC2: a signature more than 5 minutes away from the server's clock has expired.
    std::string date = r.header("X-Amz-Date");
    std::tm tm{};
    strptime(date.c_str(), "%Y%m%dT%H%M%SZ", &tm);
    auto signedAt = std::chrono::system_clock::from_time_t(timegm(&tm));
    auto serverNow =
        std::chrono::system_clock::now() + std::chrono::seconds(clockOffsetSeconds.load());
    if (signedAt < serverNow - std::chrono::minutes(5) ||
        signedAt > serverNow + std::chrono::minutes(5)) {
      net::ServerResponse resp = ec2Error(400, "RequestExpired", "Request has expired.");
      std::time_t t = std::chrono::system_clock::to_time_t(serverNow);
      std::tm g{};
      gmtime_r(&t, &g);
      char buf[64];
      std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &g);
      resp.headers.emplace_back("Date", buf);
      log_.record(RecordedCall{action + " (expired)", {}, accessKey});
      return resp;
    }
  }
  if (get(params, "Version") != "2016-11-15") {
    log_.problem(action + ": Version " + get(params, "Version"));
    return ec2Error(400, "InvalidParameterValue", "bad Version");
  }
  RecordedCall call;
  call.action = action;
  call.accessKey = accessKey;
  for (auto& [k, v] : params)
    if (k != "Action" && k != "Version") call.params.emplace_back(k, v);
  log_.record(call);
  if (auto f = failures_.take(action)) return ec2Error(f->status, f->code, f->message);
  std::lock_guard l(mu_);
  if (action == "RunInstances") {
    if (call.param("MinCount") != "1" || call.param("MaxCount") != "1")
      return ec2Error(400, "InvalidParameterValue", "counts");
    std::string token = call.param("ClientToken");
    for (auto& [id, inst] : instances_) {
      if (!token.empty() && inst.clientToken == token) {
        if (loseRunAnswers > 0) {
          --loseRunAnswers;
          return ec2Error(500, "InternalError", "An internal error has occurred");
        }
        return xml(200, renderTemplate("run_instances.xml", {{"INSTANCE_ID", id},
                                                             {"IMAGE_ID", inst.imageId},
                                                             {"INSTANCE_TYPE", inst.type},
                                                             {"PRIVATE_IP_ELEMENT", ""},
                                                             {"CLIENT_TOKEN", token},
                                                             {"TAGS", tagsXml(inst.tags)}}));
      }
    }
    FakeInstance inst;
    char id[32];
    std::snprintf(id, sizeof id, "i-0%016x", ++nextInstance_);
    inst.id = id;
    inst.imageId = call.param("ImageId");
    inst.type = call.param("InstanceType");
    inst.clientToken = token;
    for (int n = 1;; ++n) {
      std::string k = "TagSpecification.1.Tag." + std::to_string(n);
      if (!call.has(k + ".Key")) break;
      inst.tags[call.param(k + ".Key")] = call.param(k + ".Value");
    }
    inst.privateIp = "10.0.0." + std::to_string(10 + nextInstance_);
    bool publicIp = call.param("NetworkInterface.1.AssociatePublicIpAddress") == "true";
    if (publicIp) inst.publicIp = "198.18.0." + std::to_string(10 + nextInstance_);
    std::string privEl =
        runReportsPrivateIp ? "<privateIpAddress>" + inst.privateIp + "</privateIpAddress>" : "";
    instances_[inst.id] = inst;
    if (loseRunAnswers > 0) {
      --loseRunAnswers;
      return ec2Error(500, "InternalError", "An internal error has occurred");
    }
    return xml(200, renderTemplate("run_instances.xml", {{"INSTANCE_ID", inst.id},
                                                         {"IMAGE_ID", inst.imageId},
                                                         {"INSTANCE_TYPE", inst.type},
                                                         {"PRIVATE_IP_ELEMENT", privEl},
                                                         {"CLIENT_TOKEN", token},
                                                         {"TAGS", tagsXml(inst.tags)}}));
  }
  if (action == "DescribeInstances") {
    std::vector<std::string> ids;
    for (int n = 1; call.has("InstanceId." + std::to_string(n)); ++n)
      ids.push_back(call.param("InstanceId." + std::to_string(n)));
    std::string items;
    auto render = [&](FakeInstance& inst) {
      ++inst.describes;
      bool visible = inst.state == "terminated" || inst.describes >= describesUntilAddress;
      if (visible && inst.state == "pending")
        inst.state = instanceDiesOnBoot ? "terminated" : "running";
      bool addr = visible && inst.state == "running";
      std::string code = inst.state == "running" ? "16" : inst.state == "terminated" ? "48" : "0";
      items += renderTemplate(
          "describe_instances_item.xml",
          {{"INSTANCE_ID", inst.id},
           {"IMAGE_ID", inst.imageId},
           {"INSTANCE_TYPE", inst.type},
           {"STATE_CODE", code},
           {"STATE_NAME", inst.state},
           {"PRIVATE_IP_ELEMENT",
            addr ? "<privateIpAddress>" + inst.privateIp + "</privateIpAddress>" : ""},
           {"PUBLIC_IP_ELEMENT",
            addr && !inst.publicIp.empty() ? "<ipAddress>" + inst.publicIp + "</ipAddress>" : ""},
           {"STATE_REASON_CODE", inst.state == "terminated" ? "Server.InternalError" : ""},
           {"STATE_REASON",
            inst.state == "terminated" ? "Server.InternalError: Internal error on launch" : ""},
           {"TAGS", tagsXml(inst.tags)}});
    };
    if (!ids.empty()) {
      for (const auto& id : ids) {
        auto it = instances_.find(id);
        if (it == instances_.end())
          return ec2Error(400, "InvalidInstanceID.NotFound",
                          "The instance ID '" + id + "' does not exist");
        render(it->second);
      }
    } else {
      // Filters: tag-key, tag:<key>, instance-state-name; pages of MaxResults (5..1000) items.
      int maxResults = call.has("MaxResults") ? std::atoi(call.param("MaxResults").c_str()) : 1000;
      if (maxResults < 5 || maxResults > 1000)
        return ec2Error(400, "InvalidParameterValue", "MaxResults must be 5..1000");
      int perPage = pageSize > 0 ? pageSize.load() : maxResults;
      std::string after = call.param("NextToken");
      int emitted = 0;
      std::string nextToken;
      for (auto& [id, inst] : instances_) {
        if (!after.empty() && id <= after) continue;
        bool match = true;
        for (int f = 1; call.has("Filter." + std::to_string(f) + ".Name"); ++f) {
          std::string name = call.param("Filter." + std::to_string(f) + ".Name");
          std::vector<std::string> values;
          for (int v = 1; call.has("Filter." + std::to_string(f) + ".Value." + std::to_string(v));
               ++v)
            values.push_back(
                call.param("Filter." + std::to_string(f) + ".Value." + std::to_string(v)));
          auto any = [&](auto pred) {
            for (const auto& v : values)
              if (pred(v)) return true;
            return false;
          };
          if (name == "tag-key")
            match &= any([&](const std::string& v) { return inst.tags.count(v) > 0; });
          else if (name.rfind("tag:", 0) == 0)
            match &= any([&](const std::string& v) {
              auto t = inst.tags.find(name.substr(4));
              return t != inst.tags.end() && t->second == v;
            });
          else if (name == "instance-state-name")
            match &= any([&](const std::string& v) { return inst.state == v; });
          else if (name == "client-token")
            match &= any([&](const std::string& v) { return inst.clientToken == v; });
          else
            return ec2Error(400, "InvalidParameterValue", "The filter '" + name + "' is invalid");
        }
        if (!match) continue;
        if (emitted == perPage) {
          nextToken = items.empty() ? "" : lastId_;
          break;
        }
        render(inst);
        lastId_ = id;
        ++emitted;
      }
      if (!nextToken.empty()) {
        return xml(200, renderTemplate(
                            "describe_instances.xml",
                            {{"RESERVATIONS", items},
                             {"NEXT_TOKEN_ELEMENT", "<nextToken>" + nextToken + "</nextToken>"}}));
      }
    }
    return xml(200, renderTemplate("describe_instances.xml",
                                   {{"RESERVATIONS", items}, {"NEXT_TOKEN_ELEMENT", ""}}));
  }
  if (action == "TerminateInstances") {
    std::string id = call.param("InstanceId.1");
    auto it = instances_.find(id);
    if (it == instances_.end() || it->second.state == "terminated") {
      return ec2Error(400, "InvalidInstanceID.NotFound",
                      "The instance ID '" + id + "' does not exist");
    }
    it->second.state = "terminated";
    for (auto n = nics_.begin(); n != nics_.end();) {
      if (n->second.instanceId != id) {
        ++n;
        continue;
      }
      for (auto& [aid, a] : addresses_) {
        if (a.nicId == n->first) {
          a.associationId.clear();
          a.nicId.clear();
        }
      }
      if (n->second.deleteOnTermination) {
        n = nics_.erase(n);
      } else {
        n->second.status = "available";
        n->second.instanceId.clear();
        ++n;
      }
    }
    return xml(200, renderTemplate("terminate_instances.xml", {{"INSTANCE_ID", id}}));
  }
  if (action == "DescribeInstanceTypes") {
    return xml(200, renderTemplate("describe_instance_types.xml", {}));
  }
  if (action == "DescribeImages") {
    std::string id = call.param("ImageId.1");
    if (id.rfind("ami-", 0) != 0)
      return ec2Error(400, "InvalidAMIID.Malformed",
                      "Invalid id: \"" + id + "\" (expecting \"ami-...\")");
    if (id == "ami-missing")
      return ec2Error(400, "InvalidAMIID.NotFound", "The image id '[" + id + "]' does not exist");
    return xml(200,
               renderTemplate("describe_images.xml",
                              {{"IMAGE_ID", id}, {"ROOT_SIZE", std::to_string(rootVolumeGiB)}}));
  }
  return networkAction(call);
}

net::ServerResponse FakeAws::sts(const Params& params) {
  if (get(params, "Version") != "2011-06-15" || get(params, "RoleArn") != stsRoleArn ||
      get(params, "RoleSessionName").empty()) {
    return xml(400, renderTemplate("sts_error.xml",
                                   {{"CODE", "ValidationError"}, {"MESSAGE", "bad request"}}));
  }
  if (get(params, "WebIdentityToken") != stsExpectedToken) {
    return xml(
        400, renderTemplate(
                 "sts_error.xml",
                 {{"CODE", "InvalidIdentityToken"},
                  {"MESSAGE", "Couldn't retrieve verification key from your identity provider"}}));
  }
  int n = ++stsIssued;
  std::string key = "ASIASTS" + std::to_string(n), secret = "sts-secret-" + std::to_string(n),
              token = "sts-session-token-" + std::to_string(n);
  acceptCredentials(key, secret, token);
  return xml(200, renderTemplate("sts_assume_role_with_web_identity.xml",
                                 {{"SESSION", xmlEscape(get(params, "RoleSessionName"))},
                                  {"SESSION_TOKEN", token},
                                  {"SECRET", secret},
                                  {"ACCESS_KEY", key},
                                  {"EXPIRATION",
                                   utc::format(std::chrono::system_clock::now() + stsLifetime)}}));
}

net::ServerResponse FakeAws::imdsAnswer(const net::ServerRequest& r) {
  if (r.path == "/latest/api/token") {
    if (r.method != "PUT" || r.header("X-aws-ec2-metadata-token-ttl-seconds").empty())
      return {400, {}, ""};
    ++imdsTokens;
    return {200, {}, "imds-session-token"};
  }
  if (r.header("X-aws-ec2-metadata-token") != "imds-session-token") return {401, {}, ""};
  if (imdsRejectTokens > 0) {
    --imdsRejectTokens;
    return {401, {}, ""};
  }
  std::string path = r.path.substr(8);
  const std::string rolePrefix = "meta-data/iam/security-credentials/";
  if (path.rfind(rolePrefix, 0) == 0 && path.size() > rolePrefix.size() && imds.count(rolePrefix)) {
    int n = ++imdsRoleIssued;
    std::string key = "ASIAIMDS" + std::to_string(n), secret = "imds-secret-" + std::to_string(n),
                token = "imds-session-token-" + std::to_string(n);
    acceptCredentials(key, secret, token);
    nlohmann::json j = {
        {"Code", "Success"},
        {"LastUpdated", utc::format(std::chrono::system_clock::now())},
        {"Type", "AWS-HMAC"},
        {"AccessKeyId", key},
        {"SecretAccessKey", secret},
        {"Token", token},
        {"Expiration", utc::format(std::chrono::system_clock::now() + imdsRoleLifetime)}};
    return {200, {}, j.dump()};
  }
  auto it = imds.find(path);
  if (it == imds.end()) return {404, {}, ""};
  return {200, {}, it->second};
}

}  // namespace pp::providers::aws::testing
