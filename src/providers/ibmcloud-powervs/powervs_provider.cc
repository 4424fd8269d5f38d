// The ibmcloud-powervs provider (see powervs_provider.h).
#include "providers/ibmcloud-powervs/powervs_provider.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <thread>

#include "base/encoding.h"
#include "base/log.h"
#include "providers/ibmcloud/iam.h"
#include "providers/registry.h"

namespace pp::providers::powervs {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
constexpr const char* kLog = "ibmcloud-powervs";
constexpr char kMachineTypeAnnotation[] = "io.katacontainers.config.hypervisor.machine_type";

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool validIp(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// A positive decimal number ("2", "0.5"); nullopt otherwise.
std::optional<double> positiveNumber(std::string_view s) {
  if (s.empty() || s.size() > 12) return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !(v > 0) || !std::isfinite(v))
    return std::nullopt;
  return v;
}

std::string formatNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// An id PowerVS hands out (a UUID); bounded so that nothing odd reaches a URL.
bool plausibleId(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

std::chrono::milliseconds toMs(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}

}  // namespace

void registerPowerVsFlags(flags::FlagSet& fs, PowerVsConfig& c) {
  fs.stringVar(&c.apiKey, "api-key", "", "IBMCLOUD_API_KEY", "IBM Cloud API key")
      .secret()
      .required();
  fs.stringVar(&c.zone, "zone", "", "POWERVS_ZONE", "PowerVS zone name").required();
  fs.stringVar(&c.serviceInstanceId, "service-instance-id", "", "POWERVS_SERVICE_INSTANCE_ID",
               "ID of the PowerVS Service Instance")
      .required();
  fs.stringVar(&c.networkId, "network-id", "", "POWERVS_NETWORK_ID", "ID of the network instance")
      .required();
  fs.stringVar(&c.imageId, "image-id", "", "POWERVS_IMAGE_ID", "ID of the boot image").required();
  fs.stringVar(&c.sshKey, "ssh-key", "", "POWERVS_SSH_KEY_NAME", "Name of the SSH Key");
  fs.stringVar(&c.processorType, "proc-type", "shared", "POWERVS_PROCESSOR_TYPE",
               "Name of the processor type");
  fs.stringVar(&c.systemType, "sys-type", "s922", "POWERVS_SYSTEM_TYPE", "Name of the system type");
  fs.floatVar(&c.memoryGb, "memory", 2, "POWERVS_MEMORY", "Amount of memory in GB");
  fs.floatVar(&c.processors, "cpu", 0.5, "POWERVS_PROCESSORS", "Number of processors allocated");
  fs.boolVar(&c.usePublicIp, "use-public-ip", false, "USE_PUBLIC_IP",
             "Use Public IP for connecting to the agent-protocol-forwarder inside the Pod VM");
  fs.durationVar(&c.buildTimeout, "build-timeout", 8min, "POWERVS_BUILD_TIMEOUT",
                 "Maximum timeout to build the VM (upstream's default, 150s, is often too short)");
  // Ours.
  fs.stringVar(&c.endpoint, "powervs-endpoint", "", "POWERVS_ENDPOINT",
               "Power Virtual Server API base URL or host (private endpoints, tests); empty: "
               "https://<region of -zone>.power-iaas.cloud.ibm.com")
      .alsoEnv("IBMCLOUD_POWER_API_ENDPOINT");
  fs.stringVar(&c.iamUrl, "powervs-iam-endpoint", kDefaultIamBaseUrl, "POWERVS_IAM_ENDPOINT",
               "IBM Cloud IAM base URL, for tokens (/identity/token) and the API key's account "
               "(/v1/apikeys/details)");
  fs.stringVar(&c.accountId, "powervs-account-id", "", "POWERVS_ACCOUNT_ID",
               "IBM Cloud account id of the workspace; empty: looked up with the API key");
  fs.durationVar(&c.ipTimeout, "powervs-ip-timeout", 750s, "POWERVS_IP_TIMEOUT",
                 "How long to wait for an ACTIVE pod VM's address (fixed network, or the DHCP "
                 "server's lease)");
  fs.floatVar(&c.mutatingCallsPerSecond, "powervs-api-rate", 2, "POWERVS_API_RATE",
              "Most instance creates/deletes per second (client-side token bucket; 0: unlimited)");
}

PP_REGISTER_PROVIDER("ibmcloud-powervs", PowerVsConfig, registerPowerVsFlags,
                     buildWith<PowerVsProvider>)

std::string serverName(const std::string& instanceName) {
  if (instanceName.size() <= kMaxServerNameLength) return instanceName;
  auto dash = instanceName.rfind('-');
  std::string suffix = dash == std::string::npos ? std::string() : instanceName.substr(dash);
  if (suffix.size() > 20) suffix.resize(20);
  std::string head = instanceName.substr(0, kMaxServerNameLength - suffix.size());
  while (!head.empty() && head.back() == '-') head.pop_back();
  return head + suffix;
}

bool nameMatchesSandbox(const std::string& name, const std::string& sandboxId) {
  if (name.rfind(kNamePrefix, 0) != 0) return false;
  auto dash = name.rfind('-');
  std::string last = name.substr(dash + 1);
  if (last.size() < 8) return false;
  if (sandboxId.empty()) return true;
  return lower(sandboxId).rfind(last, 0) == 0;
}

Result<PowerVsSize> sizeFor(const InstanceSpec& spec, const PowerVsConfig& c) {
  PowerVsSize s{c.systemType, c.processors, c.memoryGb};
  if (spec.vcpus != 0 && spec.memoryMiB != 0) {
    s.processors = spec.vcpus;
    s.memoryGb = std::ceil(spec.memoryMiB / 1024.0);
    log::info(kLog,
              "Instance type selected by the cloud provider based on vCPU and memory "
              "annotations: {}-{}x{}",
              s.systemType, formatNumber(s.processors), formatNumber(s.memoryGb));
    return s;
  }
  if (!spec.instanceType.empty()) {
    const std::string& t = spec.instanceType;
    auto bad = [&] {
      return fail(Code::kInvalidArgument,
                  std::string("powervs: annotation ") + kMachineTypeAnnotation + " \"" + t +
                      "\" is not <system type>-<processors>x<memory GB>, e.g. s922-1x4");
    };
    auto dash = t.find('-');
    if (dash == std::string::npos || dash == 0 || t.find('-', dash + 1) != std::string::npos)
      return bad();
    std::string sys = t.substr(0, dash), size = t.substr(dash + 1);
    if (!std::all_of(sys.begin(), sys.end(),
                     [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)); }))
      return bad();
    auto x = size.find('x');
    if (x == std::string::npos) return bad();
    auto procs = positiveNumber(size.substr(0, x));
    auto mem = positiveNumber(size.substr(x + 1));
    if (!procs || !mem) return bad();
    s.systemType = sys;
    s.processors = *procs;
    s.memoryGb = *mem;
    log::info(kLog,
              "Instance type selected by the cloud provider based on instance type annotation: {}",
              t);
    return s;
  }
  log::info(kLog, "Instance type selected by the cloud provider based on config: {}-{}x{}",
            s.systemType, formatNumber(s.processors), formatNumber(s.memoryGb));
  return s;
}

Result<std::unique_ptr<PowerVsProvider>> PowerVsProvider::create(const PowerVsConfig& config,
                                                                 PowerVsDependencies deps) {
  if (!deps.clock) deps.clock = systemClock();
  auto missing = [](const char* flag, const char* env) {
    return fail(Code::kInvalidArgument,
                std::string("powervs: -") + flag + " (" + env + ") is not set");
  };
  if (config.zone.empty()) return missing("zone", "POWERVS_ZONE");
  if (config.serviceInstanceId.empty())
    return missing("service-instance-id", "POWERVS_SERVICE_INSTANCE_ID");
  if (!plausibleId(config.serviceInstanceId))
    return fail(Code::kInvalidArgument,
                "powervs: -service-instance-id (POWERVS_SERVICE_INSTANCE_ID) is not an id");
  if (config.apiKey.empty() && (!deps.tokens || config.accountId.empty()))
    return missing("api-key", "IBMCLOUD_API_KEY");
  if (config.processorType != "shared" && config.processorType != "capped" &&
      config.processorType != "dedicated") {
    return fail(Code::kInvalidArgument,
                "powervs: -proc-type (POWERVS_PROCESSOR_TYPE) must be shared, capped or "
                "dedicated, not \"" +
                    config.processorType + "\"");
  }
  if (!(config.processors > 0))
    return fail(Code::kInvalidArgument, "powervs: -cpu (POWERVS_PROCESSORS) must be positive");
  if (!(config.memoryGb > 0))
    return fail(Code::kInvalidArgument, "powervs: -memory (POWERVS_MEMORY) must be positive");
  if (config.buildTimeout <= 0ns)
    return fail(Code::kInvalidArgument,
                "powervs: -build-timeout (POWERVS_BUILD_TIMEOUT) must be positive");
  if (config.ipTimeout <= 0ns)
    return fail(Code::kInvalidArgument,
                "powervs: -powervs-ip-timeout (POWERVS_IP_TIMEOUT) must be positive");

  std::unique_ptr<PowerVsProvider> p(new PowerVsProvider(config, std::move(deps)));
  PowerVsConfig& c = p->config_;
  PowerVsDependencies& d = p->deps_;
  if (!d.tokens) {
    ibmcloud::IamSettings s;
    s.apiKey = c.apiKey;
    s.tokenUrl = ibmcloud::iamTokenEndpoint(c.iamUrl);
    ibmcloud::IamCallOptions o;
    o.http = d.http;
    o.sleep = d.sleep;
    auto t = ibmcloud::IamTokenSource::create(s, kLog, d.clock, o);
    if (!t) return fail(t.error().wrap("powervs"));
    d.tokens = std::shared_ptr<BearerTokenCache>(std::move(*t));
  }
  std::string account = c.accountId;
  if (account.empty()) {
    auto a = lookupAccountId(d.http, *d.tokens, d.identityUrl.empty() ? c.iamUrl : d.identityUrl,
                             c.apiKey, d.retry, d.sleep);
    if (!a) return fail(a.error());
    account = *a;
  }
  PowerVsClientOptions o;
  o.endpoint = c.endpoint.empty() ? defaultEndpoint(c.zone) : c.endpoint;
  o.serviceInstanceId = c.serviceInstanceId;
  o.crn = workspaceCrn(c.zone, account, c.serviceInstanceId);
  o.mutatingCallsPerSecond = c.mutatingCallsPerSecond;
  o.retry = d.retry;
  o.sleep = d.sleep;
  p->client_ = std::make_unique<PowerVsClient>(d.http, d.tokens, o);
  log::info(kLog, "zone {}, workspace {}, endpoint {}, network {}, image {}, {} {}-{}x{}", c.zone,
            c.serviceInstanceId, p->client_->options().endpoint, c.networkId, c.imageId,
            c.processorType, c.systemType, formatNumber(c.processors), formatNumber(c.memoryGb));
  return p;
}

Result<json> PowerVsProvider::instanceBody(const CreateRequest& req) const {
  const PowerVsConfig& c = config_;
  if (c.networkId.empty())
    return fail(Code::kInvalidArgument, "powervs: -network-id (POWERVS_NETWORK_ID) is not set");
  std::string image = c.imageId;
  if (!req.spec.image.empty()) {
    // Upstream's words.
    log::info(kLog, "Choosing {} from annotation as the Power VS image for the PodVM image",
              req.spec.image);
    image = req.spec.image;
  }
  if (image.empty())
    return fail(Code::kInvalidArgument, "powervs: no boot image: set -image-id (POWERVS_IMAGE_ID)");
  auto size = sizeFor(req.spec, c);
  if (!size) return fail(size.error());
  json body = {
      {"serverName", serverName(req.instanceName)},
      {"imageID", image},
      {"networks", json::array({{{"networkID", c.networkId}}})},
      {"memory", size->memoryGb},
      {"processors", size->processors},
      {"procType", c.processorType},
      {"sysType", size->systemType},
      {"userData", encoding::base64Encode(req.userData)},
  };
  if (!c.sshKey.empty()) body["keyPairName"] = c.sshKey;
  return body;
}

void PowerVsProvider::sleepFor(std::chrono::milliseconds d) const {
  if (deps_.sleep)
    deps_.sleep(d);
  else
    std::this_thread::sleep_for(d);
}

Status PowerVsProvider::waitActive(const std::string& id, const std::string& name) {
  auto deadline = std::chrono::steady_clock::now() + config_.buildTimeout;
  std::chrono::milliseconds pause = 1s;
  for (;;) {
    auto i = client_->getInstance(id);
    if (!i) return fail(i.error());
    if (i->status == "ACTIVE") {
      log::info(kLog, "instance {} ({}) is ACTIVE", name, id);
      return {};
    }
    if (i->status == "ERROR") {
      return fail(Code::kAborted,
                  "powervs: instance " + name + " (" + id +
                      ") is in ERROR state: " + (i->fault.empty() ? "no fault details" : i->fault));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return fail(Code::kDeadlineExceeded,
                  "powervs: instance " + name + " (" + id + ") still " + i->status + " after " +
                      std::to_string(toMs(config_.buildTimeout).count() / 1000) +
                      " s (-build-timeout, POWERVS_BUILD_TIMEOUT)");
    }
    sleepFor(pause);
    pause = std::min<std::chrono::milliseconds>(pause * 2, 5s);
  }
}

Result<std::string> PowerVsProvider::dhcpLeaseIp(const PvmNetwork& nic) {
  auto servers = client_->listDhcpServers();
  if (!servers) return fail(servers.error());
  for (const auto& s : *servers) {
    if (s.networkId != config_.networkId) continue;
    auto detail = client_->getDhcpServer(s.id);
    if (!detail) return fail(detail.error());
    for (const auto& l : detail->leases)
      if (lower(l.mac) == lower(nic.macAddress)) return l.ip;
    return std::string();
  }
  return fail(Code::kFailedPrecondition, "powervs: network " + config_.networkId +
                                             " has no fixed address for the instance " +
                                             "and no DHCP server in the workspace");
}

Result<std::vector<std::string>> PowerVsProvider::discoverIps(const std::string& id) {
  auto deadline = std::chrono::steady_clock::now() + config_.ipTimeout;
  std::chrono::milliseconds pause = 1s;
  for (;;) {
    auto inst = client_->getInstance(id);
    if (!inst) return fail(inst.error());
    std::vector<std::string> ips;
    const PvmNetwork* ours = nullptr;
    for (const auto& n : inst->networks) {
      if (n.networkId == config_.networkId) ours = &n;
      if (n.type != "fixed") continue;
      const std::string& ip = config_.usePublicIp ? n.externalIp : n.ipAddress;
      if (ip.empty()) continue;
      if (!validIp(ip))
        return fail(Code::kInternal, "powervs: instance " + id + " has a malformed address");
      ips.push_back(ip);
    }
    if (!ips.empty()) return ips;
    if (ours && ours->type != "fixed" && !ours->macAddress.empty()) {
      auto ip = dhcpLeaseIp(*ours);
      if (!ip) return fail(ip.error());
      if (!ip->empty()) {
        if (!validIp(*ip))
          return fail(Code::kInternal,
                      "powervs: the DHCP lease of instance " + id + " has a malformed address");
        log::info(kLog, "instance {} got {} from the DHCP server", id, *ip);
        return std::vector<std::string>{*ip};
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return fail(
          Code::kDeadlineExceeded,
          "powervs: instance " + id + " has no " + (config_.usePublicIp ? "external" : "private") +
              " address on network " + config_.networkId + " after " +
              std::to_string(toMs(config_.ipTimeout).count() / 1000) + " s (-powervs-ip-timeout)");
    }
    sleepFor(pause);
    pause = std::min<std::chrono::milliseconds>(pause * 2, 10s);
  }
}

Result<Instance> PowerVsProvider::createInstance(const CreateRequest& req) {
  auto body = instanceBody(req);
  if (!body) return fail(body.error());
  std::string name = (*body)["serverName"].get<std::string>();
  auto cleanup = [&](const std::string& id, Error err) -> Result<Instance> {
    auto st = client_->deleteInstance(id);
    if (st) {
      log::info(kLog, "deleted instance {} ({}) after a failed create", name, id);
    } else {
      log::error(kLog, "deleting instance {} ({}) after a failed create: {}", name, id,
                 st.error().message);
      err.message += "; deleting it failed too: " + st.error().message;
    }
    return fail(std::move(err));
  };
  log::info(kLog, "creating instance {} for sandbox {}", name, req.sandboxId);
  bool mayExist = false;
  auto made = client_->createInstance(*body, mayExist);
  if (!made) {
    if (!mayExist) return fail(made.error());
    // The answer was lost or garbled: an instance of this name may exist now.
    auto found = client_->findByName(name);
    if (found && *found) return cleanup((*found)->id, made.error());
    if (!found) {
      Error err = made.error();
      err.message += "; looking for an instance it may have made failed: " + found.error().message +
                     " (peerpod-ctrl's orphan sweep lists " + name + ")";
      return fail(std::move(err));
    }
    return fail(made.error());
  }
  const std::string id = made->id;
  if (!plausibleId(id)) {
    Error err{Code::kInternal, "powervs: the created instance's id is malformed"};
    auto found = client_->findByName(name);
    if (found && *found && plausibleId((*found)->id)) return cleanup((*found)->id, err);
    return fail(std::move(err));
  }
  log::info(kLog, "created instance {} ({}); waiting up to {} s for ACTIVE", name, id,
            toMs(config_.buildTimeout).count() / 1000);
  if (auto st = waitActive(id, name); !st) return cleanup(id, st.error());
  auto ips = discoverIps(id);
  if (!ips) return cleanup(id, ips.error());
  Instance out;
  out.id = id;
  out.name = name;
  out.ips = std::move(*ips);
  log::info(kLog, "instance {} ({}) has address {}", name, id, out.ips.front());
  return out;
}

Status PowerVsProvider::deleteInstance(const std::string& id) {
  if (!plausibleId(id))
    return fail(Code::kInvalidArgument, "powervs: bad instance id \"" + id.substr(0, 64) + "\"");
  auto st = client_->deleteInstance(id);
  if (st) log::info(kLog, "deleted instance {}", id);
  return st;
}

Status PowerVsProvider::verifyConfig() {
  if (config_.imageId.empty())
    return fail(Code::kInvalidArgument, "powervs: -image-id (POWERVS_IMAGE_ID) is empty");
  if (config_.networkId.empty())
    return fail(Code::kInvalidArgument, "powervs: -network-id (POWERVS_NETWORK_ID) is empty");
  if (auto i = client_->getImage(config_.imageId); !i)
    return fail(i.error().wrap("powervs: checking -image-id"));
  if (auto n = client_->getNetwork(config_.networkId); !n)
    return fail(n.error().wrap("powervs: checking -network-id"));
  return {};
}

Result<std::vector<Instance>> PowerVsProvider::listInstances(const std::string& tag) {
  auto all = client_->listInstances();
  if (!all) return fail(all.error());
  std::vector<Instance> out;
  for (const auto& i : *all) {
    if (!nameMatchesSandbox(i.name, tag)) continue;
    Instance x;
    x.id = i.id;
    x.name = i.name;
    for (const auto& n : i.networks) {
      const std::string& ip = config_.usePublicIp ? n.externalIp : n.ipAddress;
      if (!ip.empty() && validIp(ip)) x.ips.push_back(ip);
    }
    out.push_back(std::move(x));
  }
  return out;
}

}  // namespace pp::providers::powervs
