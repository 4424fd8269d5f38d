// The azure provider (see azure_provider.h).
#include "providers/azure/azure_provider.h"

#include <algorithm>
#include <cctype>

#include "base/encoding.h"
#include "base/files.h"
#include "base/json_fields.h"
#include "base/log.h"
#include "base/strings.h"
#include "providers/registry.h"

namespace pp::providers::azure {
namespace {

using jsonf::member;
using jsonf::stringAt;

using namespace std::chrono_literals;
using nlohmann::json;
constexpr const char* kLog = "azure";

// A resource id from a service answer, used as a path on the resource manager endpoint.
bool plausibleResourceId(const std::string& id) {
  return strings::startsWithIgnoreCase(id, "/subscriptions/") && id.size() < 1024 &&
         id.find_first_of("?#% \r\n\\") == std::string::npos &&
         id.find("/../") == std::string::npos && id.find("/./") == std::string::npos;
}

std::string trimSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// imageReference for the configured (or annotated) image id: a community gallery image, a
// direct shared gallery image, a resource id (gallery image version, managed image) or a
// marketplace URN publisher:offer:sku:version.
Result<json> imageReference(const std::string& image) {
  if (image.empty())
    return fail(Code::kInvalidArgument, "azure: no pod VM image: set -imageid (AZURE_IMAGE_ID)");
  if (strings::startsWithIgnoreCase(image, "/CommunityGalleries/"))
    return json{{"communityGalleryImageId", image}};
  if (strings::startsWithIgnoreCase(image, "/SharedGalleries/"))
    return json{{"sharedGalleryImageId", image}};
  if (strings::startsWithIgnoreCase(image, "/subscriptions/")) return json{{"id", image}};
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t colon = image.find(':', start);
    parts.push_back(image.substr(start, colon == std::string::npos ? colon : colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  if (parts.size() == 4 &&
      std::none_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty(); })) {
    return json{
        {"publisher", parts[0]}, {"offer", parts[1]}, {"sku", parts[2]}, {"version", parts[3]}};
  }
  return fail(Code::kInvalidArgument,
              "azure: image \"" + image +
                  "\" is neither a resource id (/subscriptions/...), a community or shared "
                  "gallery image (/CommunityGalleries/..., /SharedGalleries/...) nor a "
                  "marketplace URN publisher:offer:sku:version");
}

}  // namespace

void registerAzureFlags(flags::FlagSet& fs, AzureConfig& c) {
  fs.stringVar(&c.clientId, "clientid", "", "AZURE_CLIENT_ID", "Client Id").secret();
  fs.stringVar(&c.clientSecret, "secret", "", "AZURE_CLIENT_SECRET", "Client Secret").secret();
  fs.stringVar(&c.tenantId, "tenantid", "", "AZURE_TENANT_ID", "Tenant Id").secret();
  fs.stringVar(&c.resourceGroup, "resourcegroup", "", "AZURE_RESOURCE_GROUP", "Resource Group")
      .required();
  fs.stringVar(&c.zone, "zone", "", "", "Zone (unused, as upstream)");
  fs.stringVar(&c.region, "region", "", "AZURE_REGION", "Region").required();
  fs.stringVar(&c.subnetId, "subnetid", "", "AZURE_SUBNET_ID", "Network Subnet Id").required();
  fs.stringVar(&c.securityGroupId, "securitygroupid", "", "AZURE_NSG_ID", "Security Group Id");
  fs.stringVar(&c.size, "instance-size", "Standard_DC2as_v5", "AZURE_INSTANCE_SIZE",
               "Instance size");
  fs.stringVar(&c.imageId, "imageid", "", "AZURE_IMAGE_ID", "Image Id").required();
  fs.stringVar(&c.subscriptionId, "subscriptionid", "", "AZURE_SUBSCRIPTION_ID", "Subscription ID")
      .required();
  fs.stringVar(&c.sshKeyPath, "ssh-key-path", "", "",
               "Path to SSH public key (empty: a generated key, as nobody logs in)");
  fs.stringVar(&c.sshUserName, "ssh-username", "peerpod", "SSH_USERNAME", "SSH User Name");
  fs.boolVar(&c.disableCvm, "disable-cvm", false, "DISABLECVM", "Use non-CVMs for peer pods");
  fs.keyValueVar(&c.tags, "tags", {}, "TAGS",
                 "Custom tags (key=value pairs) to be used for the Pod VMs, comma separated");
  fs.boolVar(&c.enableSecureBoot, "enable-secure-boot", false, "ENABLE_SECURE_BOOT",
             "Enable secure boot for the VMs");
  fs.stringListVar(&c.sizes, "instance-sizes", {}, "AZURE_INSTANCE_SIZES",
                   "Instance sizes to be used for the Pod VMs, comma separated");
  fs.boolVar(&c.usePublicIp, "use-public-ip", false, "USE_PUBLIC_IP",
             "Use Public IP for connecting to the kata-agent inside the Pod VM");
  fs.intVar(&c.rootVolumeSize, "root-volume-size", 0, "ROOT_VOLUME_SIZE",
            "Root volume size (in GiB) for the Pod VMs (0: the image's size)");
  // Ours.
  fs.stringVar(&c.environment, "azure-environment", "", "AZURE_ENVIRONMENT",
               "Azure cloud: AzurePublicCloud (default), AzureChinaCloud or "
               "AzureUSGovernmentCloud");
  fs.stringVar(&c.resourceManagerEndpoint, "azure-resource-manager-endpoint", "",
               "AZURE_RESOURCE_MANAGER_ENDPOINT",
               "Resource Manager endpoint, overriding the cloud's (private clouds, tests)");
  fs.stringVar(&c.authorityHost, "azure-authority-host", "", "AZURE_AUTHORITY_HOST",
               "Microsoft Entra authority host, overriding the cloud's");
  fs.stringVar(&c.tokenAudience, "azure-token-audience", "", "AZURE_TOKEN_AUDIENCE",
               "Audience (resource) of the access tokens, when it is not the Resource Manager "
               "endpoint itself (an endpoint reached through a proxy, Azure Stack Hub)");
  fs.stringVar(&c.auth, "azure-auth", "", "AZURE_AUTH_METHOD",
               "Credential: secret, workload or managed; empty picks secret when -secret is "
               "set, else workload when AZURE_FEDERATED_TOKEN_FILE is set, else managed");
  fs.stringVar(&c.federatedTokenFile, "azure-federated-token-file", "",
               "AZURE_FEDERATED_TOKEN_FILE", "Workload identity: the federated token file");
  fs.stringVar(&c.imdsEndpoint, "azure-imds-endpoint", "http://169.254.169.254",
               "AZURE_IMDS_ENDPOINT", "Managed identity: the instance metadata service");
  fs.stringVar(&c.diskType, "azure-disk-type", "Premium_LRS", "AZURE_DISK_TYPE",
               "Storage account type of the Pod VM OS disk (Premium_LRS, StandardSSD_LRS, ...)");
  fs.floatVar(&c.mutatingCallsPerSecond, "azure-api-rate", 2, "AZURE_API_RATE",
              "Most mutating Resource Manager calls per second (client-side token bucket; 0: "
              "unlimited)");
  fs.durationVar(&c.createTimeout, "azure-create-timeout", 10min, "AZURE_CREATE_TIMEOUT",
                 "How long a VM creation or deletion may take before it is given up");
}

PP_REGISTER_PROVIDER("azure", AzureConfig, registerAzureFlags, buildWith<AzureProvider>)

Result<CloudEndpoints> cloudEndpoints(const std::string& environment) {
  std::string e = strings::toLower(environment);
  if (e.empty() || e == "azurepubliccloud" || e == "public" || e == "azurecloud")
    return CloudEndpoints{"https://management.azure.com", "https://login.microsoftonline.com"};
  if (e == "azurechinacloud" || e == "china")
    return CloudEndpoints{"https://management.chinacloudapi.cn", "https://login.chinacloudapi.cn"};
  if (e == "azureusgovernmentcloud" || e == "azureusgovernment" || e == "usgov" ||
      e == "usgovernment")
    return CloudEndpoints{"https://management.usgovcloudapi.net",
                          "https://login.microsoftonline.us"};
  return fail(Code::kInvalidArgument,
              "unknown AZURE_ENVIRONMENT \"" + environment +
                  "\": use AzurePublicCloud, AzureChinaCloud or AzureUSGovernmentCloud (or set "
                  "-azure-resource-manager-endpoint and -azure-authority-host)");
}

Result<std::pair<std::string, std::string>> parseVmId(const std::string& id) {
  // /subscriptions/S/resourceGroups/G/providers/Microsoft.Compute/virtualMachines/N
  std::vector<std::string> seg;
  if (id.empty() || id[0] != '/' || id.size() > 1024)
    return fail(Code::kInvalidArgument, "azure: \"" + id + "\" is not a VM resource id");
  size_t start = 1;
  while (start <= id.size()) {
    size_t slash = id.find('/', start);
    seg.push_back(id.substr(start, slash == std::string::npos ? slash : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  auto safe = [](const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
             c == '(' || c == ')';
    });
  };
  if (seg.size() != 8 || strings::toLower(seg[0]) != "subscriptions" ||
      strings::toLower(seg[2]) != "resourcegroups" || strings::toLower(seg[4]) != "providers" ||
      strings::toLower(seg[5]) != "microsoft.compute" ||
      strings::toLower(seg[6]) != "virtualmachines" || !safe(seg[1]) || !safe(seg[3]) ||
      !safe(seg[7])) {
    return fail(Code::kInvalidArgument, "azure: \"" + id + "\" is not a VM resource id");
  }
  return std::make_pair("/subscriptions/" + seg[1] + "/resourceGroups/" + seg[3] +
                            "/providers/Microsoft.Compute/virtualMachines/" + seg[7],
                        seg[7]);
}

Result<std::unique_ptr<AzureProvider>> AzureProvider::create(const AzureConfig& config,
                                                             AzureDependencies deps) {
  if (!deps.env) deps.env = flags::processEnv();
  if (!deps.clock) deps.clock = systemClock();
  if (config.rootVolumeSize < 0)
    return fail(Code::kInvalidArgument, "azure: -root-volume-size must not be negative");
  std::unique_ptr<AzureProvider> p(new AzureProvider(config, std::move(deps)));
  AzureConfig& c = p->config_;
  const auto& env = p->deps_.env;
  if (c.nodeName.empty()) c.nodeName = env("NODE_NAME").value_or("");
  auto cloud = cloudEndpoints(c.environment);
  if (!cloud) return fail(cloud.error());
  std::string rm = trimSlash(c.resourceManagerEndpoint.empty() ? cloud->resourceManager
                                                               : c.resourceManagerEndpoint);
  p->authority_ = trimSlash(c.authorityHost.empty() ? cloud->authorityHost : c.authorityHost);
  if (c.subscriptionId.empty() || c.resourceGroup.empty() || c.region.empty())
    return fail(Code::kInvalidArgument,
                "azure: -subscriptionid (AZURE_SUBSCRIPTION_ID), -resourcegroup "
                "(AZURE_RESOURCE_GROUP) and -region (AZURE_REGION) are required");

  AuthOptions a;
  a.authorityHost = p->authority_;
  a.resourceManager = rm;
  a.audience = c.tokenAudience;
  a.tenantId = c.tenantId;
  a.clientId = c.clientId;
  a.clientSecret = c.clientSecret;
  a.federatedTokenFile = c.federatedTokenFile;
  a.imdsEndpoint = trimSlash(c.imdsEndpoint.empty() ? "http://169.254.169.254" : c.imdsEndpoint);
  std::string mode = strings::toLower(c.auth);
  if (mode.empty()) {
    mode = !c.clientSecret.empty()         ? "secret"
           : !c.federatedTokenFile.empty() ? "workload"
                                           : "managed";
  }
  if (mode == "secret") {
    if (c.clientSecret.empty())
      return fail(Code::kInvalidArgument,
                  "azure: -azure-auth secret needs -secret (AZURE_CLIENT_SECRET)");
    a.mode = AuthMode::kClientSecret;
  } else if (mode == "workload") {
    if (c.federatedTokenFile.empty())
      return fail(Code::kInvalidArgument,
                  "azure: -azure-auth workload needs AZURE_FEDERATED_TOKEN_FILE");
    a.mode = AuthMode::kWorkloadIdentity;
  } else if (mode == "managed") {
    a.mode = AuthMode::kManagedIdentity;
  } else {
    return fail(
        Code::kInvalidArgument,
        "azure: -azure-auth must be secret, workload, managed or empty, not \"" + c.auth + "\"");
  }
  p->tokens_ = std::make_shared<TokenSource>(p->deps_.http, a, p->deps_.clock);
  ArmOptions o;
  o.endpoint = rm;
  o.mutatingCallsPerSecond = c.mutatingCallsPerSecond;
  o.sleep = p->deps_.sleep;
  o.pollInterval = p->deps_.pollInterval;
  p->arm_ = std::make_unique<ArmClient>(p->deps_.http, p->tokens_, o);
  log::info(kLog, "resource manager {}, authority {}, credential {}, region {}, resource group {}",
            rm, p->authority_, authModeName(a.mode), c.region, c.resourceGroup);
  return p;
}

std::string AzureProvider::groupPath() const {
  return "/subscriptions/" + net::urlEncode(config_.subscriptionId) + "/resourceGroups/" +
         net::urlEncode(config_.resourceGroup);
}

std::string AzureProvider::vmPath(const std::string& name) const {
  return groupPath() + "/providers/Microsoft.Compute/virtualMachines/" + net::urlEncode(name);
}

Status AzureProvider::ensureLookups() {
  std::lock_guard lock(lookupMu_);
  if (lookedUp_) return {};
  std::vector<std::string> wanted = config_.sizes;
  if (wanted.empty()) wanted.push_back(config_.size);
  auto r = arm_->call("GET",
                      "/subscriptions/" + net::urlEncode(config_.subscriptionId) +
                          "/providers/Microsoft.Compute/locations/" +
                          net::urlEncode(config_.region) + "/vmSizes",
                      kComputeApi);
  if (!r) return fail(r.error().wrap("azure: listing the VM sizes of " + config_.region));
  const json* value = member(r->body, "value");
  if (!value || !value->is_array())
    return fail(Code::kInternal, "azure: VM sizes answer has no value list");
  std::vector<InstanceTypeInfo> table;
  for (const auto& want : wanted) {
    bool found = false;
    for (const auto& s : *value) {
      if (strings::toLower(stringAt(s, {"name"})) != strings::toLower(want)) continue;
      const json* cores = member(s, "numberOfCores");
      const json* mem = member(s, "memoryInMB");
      if (!cores || !mem || !cores->is_number_unsigned() || !mem->is_number_unsigned())
        return fail(Code::kInternal, "azure: VM size " + want + " lacks cores or memory");
      InstanceTypeInfo info;
      info.name = want;
      info.vcpus = static_cast<uint32_t>(std::min<uint64_t>(cores->get<uint64_t>(), 1u << 20));
      info.memoryMiB = static_cast<uint32_t>(std::min<uint64_t>(mem->get<uint64_t>(), 1u << 30));
      table.push_back(info);
      found = true;
      break;
    }
    if (!found)
      return fail(Code::kInvalidArgument,
                  "azure: VM size " + want + " is not offered in region " + config_.region);
  }
  sizeTable_ = std::move(table);
  lookedUp_ = true;
  return {};
}

Result<std::string> AzureProvider::publicKey() {
  std::lock_guard lock(lookupMu_);
  if (!publicKey_.empty()) return publicKey_;
  if (!config_.sshKeyPath.empty()) {
    auto k = files::readFile(config_.sshKeyPath, 16384);
    if (!k) return fail(k.error().wrap("azure: reading -ssh-key-path"));
    std::string key = std::string(strings::trim(*k));
    if (key.rfind("ssh-", 0) != 0 && key.rfind("ecdsa-", 0) != 0)
      return fail(Code::kInvalidArgument,
                  "azure: " + config_.sshKeyPath + " is not an OpenSSH public key");
    publicKey_ = key;
  } else {
    auto k = generateSshPublicKey(4096);
    if (!k) return fail(k.error());
    publicKey_ = *k;
  }
  return publicKey_;
}

Result<json> AzureProvider::vmBody(const CreateRequest& req, const std::string& publicKey) {
  const AzureConfig& c = config_;
  if (c.subnetId.empty())
    return fail(Code::kInvalidArgument, "azure: -subnetid (AZURE_SUBNET_ID) is not set");
  std::string userData = encoding::base64Encode(req.userData);
  if (userData.size() > kMaxUserDataBase64)
    return fail(Code::kInvalidArgument, "azure: user data is " + std::to_string(userData.size()) +
                                            " bytes in base64; Azure accepts at most 65536");
  if (!req.spec.image.empty())  // upstream's words; its e2e suite greps "Choosing <image>"
    log::info(kLog, "Choosing {} from annotation as the Azure Image for the PodVM image",
              req.spec.image);
  auto image = imageReference(req.spec.image.empty() ? c.imageId : req.spec.image);
  if (!image) return fail(image.error());
  auto size = selectInstanceType(req.spec, c.size, c.sizes, sizeTable_);
  if (!size) return fail(size.error().wrap("azure"));
  const std::string& name = req.instanceName;

  json managedDisk = {{"storageAccountType", c.diskType}};
  if (!c.disableCvm)
    managedDisk["securityProfile"] = {{"securityEncryptionType", "VMGuestStateOnly"}};
  json osDisk = {{"name", name + "-disk"},
                 {"createOption", "FromImage"},
                 {"caching", "ReadWrite"},
                 {"deleteOption", "Delete"},
                 {"managedDisk", managedDisk}};
  if (c.rootVolumeSize > 0) osDisk["diskSizeGB"] = c.rootVolumeSize;

  json ipConfig = {{"name", "ip-config"}, {"properties", {{"subnet", {{"id", c.subnetId}}}}}};
  if (c.usePublicIp) {
    ipConfig["properties"]["publicIPAddressConfiguration"] = {
        {"name", name + "-ip"},
        {"sku", {{"name", "Standard"}}},
        {"properties", {{"deleteOption", "Delete"}, {"publicIPAllocationMethod", "Static"}}}};
  }
  json nicProps = {
      {"primary", true}, {"deleteOption", "Delete"}, {"ipConfigurations", json::array({ipConfig})}};
  if (!c.securityGroupId.empty()) nicProps["networkSecurityGroup"] = {{"id", c.securityGroupId}};

  json props = {{"hardwareProfile", {{"vmSize", *size}}},
                {"storageProfile", {{"imageReference", *image}, {"osDisk", osDisk}}},
                {"osProfile",
                 {{"computerName", name},
                  {"adminUsername", c.sshUserName},
                  {"linuxConfiguration",
                   {{"disablePasswordAuthentication", true},
                    {"ssh",
                     {{"publicKeys",
                       json::array({{{"path", "/home/" + c.sshUserName + "/.ssh/authorized_keys"},
                                     {"keyData", publicKey}}})}}}}}}},
                {"networkProfile",
                 {{"networkApiVersion", kVmNetworkApi},
                  {"networkInterfaceConfigurations",
                   json::array({{{"name", name + "-net"}, {"properties", nicProps}}})}}},
                {"diagnosticsProfile", {{"bootDiagnostics", {{"enabled", true}}}}},
                {"userData", userData}};
  if (!c.disableCvm) {
    props["securityProfile"] = {
        {"securityType", "ConfidentialVM"},
        {"uefiSettings", {{"secureBootEnabled", c.enableSecureBoot}, {"vTpmEnabled", true}}}};
  }
  json tags = json::object();
  for (const auto& [k, v] : c.tags) tags[k] = v;
  tags[kTagSandbox] = req.sandboxId;
  tags[kTagPod] = req.podName;
  tags[kTagNamespace] = req.podNamespace;
  if (!c.nodeName.empty()) tags[kTagNode] = c.nodeName;
  return json{{"location", c.region}, {"tags", tags}, {"properties", props}};
}

Result<std::vector<std::string>> AzureProvider::addresses(const json& vm) {
  const json* nics = member(vm, "properties");
  nics = nics ? member(*nics, "networkProfile") : nullptr;
  nics = nics ? member(*nics, "networkInterfaces") : nullptr;
  if (!nics || !nics->is_array() || nics->empty() || nics->size() > 8)
    return fail(Code::kInternal, "azure: the VM reports no network interface");
  std::vector<std::string> pub, priv;
  for (const auto& n : *nics) {
    std::string id = stringAt(n, {"id"});
    if (!plausibleResourceId(id))
      return fail(Code::kInternal, "azure: the VM reports an invalid network interface id");
    auto nic = arm_->call("GET", id, kNetworkApi);
    if (!nic) return fail(nic.error().wrap("azure: reading the network interface"));
    const json* ipcs = member(nic->body, "properties");
    ipcs = ipcs ? member(*ipcs, "ipConfigurations") : nullptr;
    if (!ipcs || !ipcs->is_array()) continue;
    for (const auto& ipc : *ipcs) {
      std::string ip = stringAt(ipc, {"properties", "privateIPAddress"});
      if (!ip.empty() && ip != "0.0.0.0" && ip.size() < 64) priv.push_back(ip);
      if (!config_.usePublicIp) continue;
      std::string pid = stringAt(ipc, {"properties", "publicIPAddress", "id"});
      if (pid.empty()) continue;
      if (!plausibleResourceId(pid))
        return fail(Code::kInternal, "azure: invalid public IP address id");
      auto pip = arm_->call("GET", pid, kNetworkApi);
      if (!pip) return fail(pip.error().wrap("azure: reading the public IP address"));
      std::string addr = stringAt(pip->body, {"properties", "ipAddress"});
      if (!addr.empty() && addr != "0.0.0.0" && addr.size() < 64) pub.push_back(addr);
    }
  }
  if (config_.usePublicIp && pub.empty())
    return fail(Code::kInternal, "azure: the VM has no public IP address");
  if (priv.empty() && pub.empty())
    return fail(Code::kInternal, "azure: the VM has no private IP address");
  pub.insert(pub.end(), priv.begin(), priv.end());
  return pub;
}

Status AzureProvider::deleteResource(const std::string& path, const std::string& apiVersion,
                                     const std::string& what) {
  auto r = arm_->call("DELETE", path, apiVersion);
  if (!r) {
    if (r.error().code == Code::kNotFound) return {};
    return fail(r.error());
  }
  if (r->status == 204) return {};  // did not exist
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(config_.createTimeout);
  return arm_->waitOperation(*r, timeout, "azure: deleting " + what);
}

void AzureProvider::cleanupAfterFailure(const std::string& name, Error& err) {
  struct Leftover {
    std::string path, api, what;
  };
  const std::string g = groupPath();
  const Leftover items[] = {
      {vmPath(name), kComputeApi, "VM " + name},
      // Left behind only when the VM's creation stopped before the VM owned them.
      {g + "/providers/Microsoft.Network/networkInterfaces/" + net::urlEncode(name + "-net"),
       kNetworkApi, "network interface " + name + "-net"},
      {g + "/providers/Microsoft.Network/publicIPAddresses/" + net::urlEncode(name + "-ip"),
       kNetworkApi, "public IP address " + name + "-ip"},
      {g + "/providers/Microsoft.Compute/disks/" + net::urlEncode(name + "-disk"), kDiskApi,
       "disk " + name + "-disk"},
  };
  for (const auto& l : items) {
    if (l.what.rfind("public", 0) == 0 && !config_.usePublicIp) continue;
    auto st = deleteResource(l.path, l.api, l.what);
    if (!st) {
      log::error(kLog, "cleaning up after a failed create: {}", st.error().message);
      err.message += "; cleaning up " + l.what + " failed: " + st.error().message;
      if (l.what.rfind("VM", 0) == 0) return;  // its resources cannot go while it stays
    }
  }
  log::info(kLog, "deleted VM {} and its resources after a failed create", name);
}

Result<Instance> AzureProvider::createInstance(const CreateRequest& req) {
  if (req.instanceName.empty()) return fail(Code::kInvalidArgument, "azure: empty instance name");
  if (auto st = ensureLookups(); !st) return fail(st.error().wrap("azure: preparing VM creation"));
  auto key = publicKey();
  if (!key) return fail(key.error());
  auto body = vmBody(req, *key);
  if (!body) return fail(body.error());
  const std::string& name = req.instanceName;
  const std::string path = vmPath(name);
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(config_.createTimeout);

  auto started = arm_->call("PUT", path, kComputeApi, &*body);
  if (!started) {
    Error err = started.error().wrap("azure: creating VM " + name);
    // The answer may have been lost after Azure accepted the PUT: make sure nothing stays.
    if (mayHaveBeenApplied(started.error())) cleanupAfterFailure(name, err);
    return fail(std::move(err));
  }
  log::info(kLog, "creating VM {} for sandbox {}", name, req.sandboxId);
  auto fail_ = [&](Error err) -> Result<Instance> {
    cleanupAfterFailure(name, err);
    return fail(std::move(err));
  };
  if (auto st = arm_->waitOperation(*started, timeout, "azure: creating VM " + name); !st)
    return fail_(st.error());
  auto vm = arm_->call("GET", path, kComputeApi);
  if (!vm) return fail_(vm.error().wrap("azure: reading VM " + name));
  std::string state = stringAt(vm->body, {"properties", "provisioningState"});
  if (state != "Succeeded")
    return fail_(Error(Code::kAborted, "azure: VM " + name + " is in provisioning state \"" +
                                           state.substr(0, 40) + "\""));
  auto ips = addresses(vm->body);
  if (!ips) return fail_(ips.error());
  Instance out;
  std::string id = stringAt(vm->body, {"id"});
  out.id = parseVmId(id) ? id : path;
  out.name = name;
  out.ips = std::move(*ips);
  log::info(kLog, "VM {} is up at {}", name, out.ips.front());
  return out;
}

Status AzureProvider::deleteInstance(const std::string& id) {
  auto parsed = parseVmId(id);
  if (!parsed) return fail(parsed.error());
  const std::string& name = parsed->second;
  auto st = deleteResource(parsed->first, kComputeApi, "VM " + name);
  if (!st) return st;
  // The VM took its NIC, public IP and disk along (deleteOption Delete), so these find nothing
  // (204/404). They matter when a create failed half-way and its cleanup did not finish (Azure
  // keeps a failed VM's NIC reserved for a while, refusing its deletion): peerpod-ctrl's later
  // delete then removes what is left, in the VM's own resource group.
  const std::string group = parsed->first.substr(0, parsed->first.find("/providers/"));
  const std::pair<std::string, std::string> leftovers[] = {
      {group + "/providers/Microsoft.Network/networkInterfaces/" + name + "-net",
       "network interface " + name + "-net"},
      {group + "/providers/Microsoft.Network/publicIPAddresses/" + name + "-ip",
       "public IP address " + name + "-ip"},
  };
  for (const auto& [path, what] : leftovers) {
    if (auto d = deleteResource(path, kNetworkApi, what); !d)
      return fail(d.error().wrap("azure: VM " + name + " is gone"));
  }
  if (auto d = deleteResource(group + "/providers/Microsoft.Compute/disks/" + name + "-disk",
                              kDiskApi, "disk " + name + "-disk");
      !d)
    return fail(d.error().wrap("azure: VM " + name + " is gone"));
  log::info(kLog, "deleted VM {}", name);
  return {};
}

Status AzureProvider::verifyConfig() {
  if (config_.imageId.empty())
    return fail(Code::kInvalidArgument, "azure: -imageid (AZURE_IMAGE_ID) is not set");
  if (auto img = imageReference(config_.imageId); !img) return fail(img.error());
  if (config_.subnetId.empty())
    return fail(Code::kInvalidArgument, "azure: -subnetid (AZURE_SUBNET_ID) is not set");
  if (!config_.sshKeyPath.empty()) {
    if (auto k = publicKey(); !k) return fail(k.error());
  }
  if (auto r = arm_->call("GET", groupPath(), kResourcesApi); !r)
    return fail(r.error().wrap("azure: checking resource group " + config_.resourceGroup));
  if (auto st = ensureLookups(); !st)
    return fail(st.error().wrap("azure: checking the configuration"));
  return {};
}

Result<std::vector<Instance>> AzureProvider::listInstances(const std::string& tag) {
  std::vector<Instance> out;
  std::string next = groupPath() + "/providers/Microsoft.Compute/virtualMachines";
  for (int page = 0; !next.empty(); ++page) {
    if (page >= 100) return fail(Code::kInternal, "azure: too many pages of VMs");
    auto r = arm_->call("GET", next, page == 0 ? kComputeApi : "");
    if (!r) return fail(r.error().wrap("azure: listing VMs"));
    const json* value = member(r->body, "value");
    if (!value || !value->is_array()) return fail(Code::kInternal, "azure: VM list has no value");
    for (const auto& vm : *value) {
      std::string sandbox = stringAt(vm, {"tags", kTagSandbox});
      if (sandbox.empty() || (!tag.empty() && sandbox != tag)) continue;
      Instance i;
      i.id = stringAt(vm, {"id"});
      i.name = stringAt(vm, {"name"});
      out.push_back(std::move(i));
    }
    next = stringAt(r->body, {"nextLink"});
    if (!next.empty() && next.rfind(arm_->endpoint() + "/", 0) != 0)
      return fail(Code::kInternal,
                  "azure: VM list nextLink is not on the resource manager endpoint");
  }
  return out;
}

}  // namespace pp::providers::azure
