// The alibabacloud provider (see alibabacloud_provider.h).
#include "providers/alibabacloud/alibabacloud_provider.h"

#include <thread>

#include "base/encoding.h"
#include "base/json_fields.h"
#include "base/log.h"
#include "providers/registry.h"
#include "providers/tags.h"

namespace pp::providers::alibabacloud {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
constexpr const char* kLog = "alibabacloud";

std::string nicName(const std::string& instanceId) {
  return "peerpod-nic-" + instanceId;
}
std::string eipName(const std::string& instanceId) {
  return "peerpod-eip-" + instanceId;
}

// obj[a][b]... as a JSON value (null when a step is missing or not an object).
const json& path(const json& j, std::initializer_list<const char*> keys) {
  static const json kNull;
  const json* cur = &j;
  for (const char* k : keys) {
    if (!cur->is_object()) return kNull;
    auto it = cur->find(k);
    if (it == cur->end()) return kNull;
    cur = &*it;
  }
  return *cur;
}

std::vector<std::string> stringList(const json& j) {
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const auto& v : j)
    if (v.is_string() && !v.get_ref<const std::string&>().empty() && out.size() < 64)
      out.push_back(v.get<std::string>());
  return out;
}

bool validId(const std::string& id, const char* prefix) {
  if (id.rfind(prefix, 0) != 0 || id.size() > 64 || id.size() <= std::strlen(prefix)) return false;
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  return true;
}

bool tagged(const json& instance, const std::string& key, const std::string& value) {
  for (const auto& t : path(instance, {"Tags", "Tag"}).is_array() ? path(instance, {"Tags", "Tag"})
                                                                  : json::array()) {
    if (jsonf::stringField(t, "TagKey") == key &&
        (value.empty() || jsonf::stringField(t, "TagValue") == value))
      return true;
  }
  return false;
}

}  // namespace

std::optional<DescribedInstance> parseDescribedInstance(const json& i,
                                                        const std::optional<std::string>& tagKey,
                                                        const std::string& tagValue) {
  DescribedInstance d;
  d.id = jsonf::stringField(i, "InstanceId");
  if (d.id.empty()) return std::nullopt;
  if (tagKey && !tagged(i, *tagKey, tagValue)) return std::nullopt;
  d.name = jsonf::stringField(i, "InstanceName");
  d.status = jsonf::stringField(i, "Status");
  d.privateIps = stringList(path(i, {"VpcAttributes", "PrivateIpAddress", "IpAddress"}));
  d.publicIps = stringList(path(i, {"PublicIpAddress", "IpAddress"}));
  if (auto eip = jsonf::stringField(path(i, {"EipAddress"}), "IpAddress"); !eip.empty())
    d.publicIps.push_back(eip);
  return d;
}

Result<InstanceTypeInfo> parseInstanceType(const json& t) {
  InstanceTypeInfo info;
  info.name = jsonf::stringField(t, "InstanceTypeId");
  auto cpus = t.is_object() ? t.find("CpuCoreCount") : t.end();
  auto mem = t.is_object() ? t.find("MemorySize") : t.end();
  if (info.name.empty() || cpus == t.end() || !cpus->is_number_integer() || mem == t.end() ||
      !mem->is_number() || cpus->get<int64_t>() < 0 || cpus->get<int64_t>() > 100000 ||
      mem->get<double>() < 0 || mem->get<double>() > 1e6)
    return fail(Code::kInternal, "alibabacloud: DescribeInstanceTypes: bad entry for " +
                                     (info.name.empty() ? std::string("(no id)") : info.name));
  info.vcpus = static_cast<uint32_t>(cpus->get<int64_t>());
  info.memoryMiB = static_cast<uint32_t>(mem->get<double>() * 1024 + 0.5);
  if (auto g = t.find("GPUAmount");
      g != t.end() && g->is_number_integer() && g->get<int64_t>() > 0 && g->get<int64_t>() < 1000)
    info.gpus = static_cast<uint32_t>(g->get<int64_t>());
  info.gpuModel = jsonf::stringField(t, "GPUSpec");
  return info;
}

std::string ecsEndpointFor(const std::string& region) {
  // Alibaba's SDKs map a few regions to other hosts; every other region is ecs.<region>.
  static const std::map<std::string, std::string> kSpecial = {
      {"cn-hangzhou", "ecs-cn-hangzhou.aliyuncs.com"},
      {"cn-shanghai-finance-1", "ecs-cn-hangzhou.aliyuncs.com"},
      {"cn-shenzhen-finance-1", "ecs-cn-hangzhou.aliyuncs.com"},
      {"cn-fujian", "ecs-cn-hangzhou.aliyuncs.com"},
      {"cn-north-2-gov-1", "ecs.aliyuncs.com"},
      {"cn-hangzhou-finance", "ecs.aliyuncs.com"},
      {"cn-wuhan", "ecs.aliyuncs.com"},
      {"cn-zhangbei", "ecs.aliyuncs.com"},
  };
  auto it = kSpecial.find(region);
  return "https://" + (it != kSpecial.end() ? it->second : "ecs." + region + ".aliyuncs.com");
}

std::string vpcEndpointFor(const std::string& region) {
  return "https://vpc." + region + ".aliyuncs.com";
}

void registerAlibabaFlags(flags::FlagSet& fs, AlibabaConfig& c) {
  fs.stringVar(&c.accessKeyId, "alibabacloud-access-key-id", "", "ALIBABACLOUD_ACCESS_KEY_ID",
               "Access Key ID")
      .secret();
  fs.stringVar(&c.secretKey, "alibabacloud-secret-access-key", "", "ALIBABACLOUD_ACCESS_KEY_SECRET",
               "Secret Key")
      .secret();
  fs.stringVar(&c.securityToken, "alibabacloud-security-token", "", "ALIBABACLOUD_SECURITY_TOKEN",
               "Security Token (STS credentials)")
      .secret();
  fs.stringVar(&c.region, "region", "cn-beijing", "REGION", "Region");
  fs.stringVar(&c.imageId, "imageid", "", "IMAGEID", "Pod VM image id").required();
  fs.stringVar(&c.instanceType, "instance-type", "ecs.g8i.xlarge", "PODVM_INSTANCE_TYPE",
               "Pod VM instance type");
  fs.stringVar(&c.vswitchId, "vswitch-id", "", "VSWITCH_ID",
               "vSwitch ID to be used for the Pod VMs")
      .required();
  fs.stringVar(&c.keyName, "keyname", "", "KEYNAME", "SSH Keypair name to be used with the Pod VM");
  fs.boolVar(&c.usePublicIp, "use-public-ip", false, "USE_PUBLIC_IP",
             "Use Public IP for connecting to the kata-agent inside the Pod VM");
  fs.intVar(&c.systemDiskSize, "system-disk-size", 40, "SYSTEM_DISK_SIZE",
            "System Disk size (in GiB) for the Pod VMs");
  fs.boolVar(&c.disableCvm, "disable-cvm", false, "DISABLECVM", "Use non-CVMs for peer pods");
  fs.stringVar(&c.vpcId, "vpc-id", "", "",
               "VPC ID to be used for the Pod VMs (checked against the vSwitch's VPC when set)");
  // Upstream's default here is "cn-beijing", which is no security group.
  fs.stringListVar(&c.securityGroupIds, "security-group-ids", {}, "SECURITY_GROUP_IDS",
                   "Security Group Ids to be used for the Pod VM, comma separated");
  fs.keyValueVar(&c.tags, "tags", {}, "TAGS",
                 "Custom tags (key=value pairs) to be used for the Pod VMs, comma separated");
  // Ours.
  fs.stringListVar(&c.instanceTypes, "instance-types", {}, "PODVM_INSTANCE_TYPES",
                   "Instance types the sizing annotations may choose from, comma separated (empty: "
                   "only -instance-type)");
  fs.stringVar(&c.ecsEndpoint, "alibabacloud-ecs-endpoint", "", "ALIBABACLOUD_ECS_ENDPOINT",
               "ECS OpenAPI base URL (default https://ecs.<region>.aliyuncs.com; a private "
               "endpoint or a test server)");
  fs.stringVar(&c.vpcEndpoint, "alibabacloud-vpc-endpoint", "", "ALIBABACLOUD_VPC_ENDPOINT",
               "VPC OpenAPI base URL (default https://vpc.<region>.aliyuncs.com)");
  fs.stringVar(&c.stsEndpoint, "alibabacloud-sts-endpoint", "", "ALIBABACLOUD_STS_ENDPOINT",
               "STS base URL for RRSA's AssumeRoleWithOIDC (default https://sts.aliyuncs.com, or "
               "sts.<ALIBABA_CLOUD_STS_REGION>.aliyuncs.com)");
  fs.stringVar(&c.metadataEndpoint, "alibabacloud-metadata-endpoint", "",
               "ALIBABACLOUD_METADATA_ENDPOINT",
               "ECS metadata service base URL for the RAM role's credentials (default "
               "http://100.100.100.200)");
  fs.floatVar(&c.mutatingCallsPerSecond, "alibabacloud-api-rate", 2, "ALIBABACLOUD_API_RATE",
              "Most mutating ECS/VPC calls per second (client-side token bucket; 0: unlimited)");
  fs.durationVar(&c.readyTimeout, "alibabacloud-ready-timeout", 3min, "ALIBABACLOUD_READY_TIMEOUT",
                 "How long to wait for a new instance's addresses, its extra NIC and EIP");
}

PP_REGISTER_PROVIDER("alibabacloud", AlibabaConfig, registerAlibabaFlags,
                     buildWith<AlibabaProvider>)

Result<std::unique_ptr<AlibabaProvider>> AlibabaProvider::create(const AlibabaConfig& config,
                                                                 AlibabaDependencies deps) {
  if (!deps.env) deps.env = flags::processEnv();
  if (!deps.clock) deps.clock = systemClock();
  if (config.region.empty())
    return fail(Code::kInvalidArgument, "alibabacloud: -region (REGION) is empty");
  for (char ch : config.region)
    if (!std::islower(static_cast<unsigned char>(ch)) &&
        !std::isdigit(static_cast<unsigned char>(ch)) && ch != '-')
      return fail(Code::kInvalidArgument,
                  "alibabacloud: -region (REGION) \"" + config.region + "\" is not a region id");
  if (config.systemDiskSize < 0 || config.systemDiskSize > 32768)
    return fail(Code::kInvalidArgument,
                "alibabacloud: -system-disk-size (SYSTEM_DISK_SIZE) must be 0..32768 GiB");
  if (config.tags.size() + 4 > kMaxTags)
    return fail(Code::kInvalidArgument, "alibabacloud: -tags (TAGS) has " +
                                            std::to_string(config.tags.size()) +
                                            " tags; ECS takes 20 and 4 are the io.peerpods.* tags");
  for (const auto& [k, v] : config.tags)
    if (k.empty() || k.size() > 128 || v.size() > 128 || k.rfind("aliyun", 0) == 0 ||
        k.rfind("acs:", 0) == 0)
      return fail(Code::kInvalidArgument, "alibabacloud: -tags (TAGS): bad tag key \"" + k + "\"");
  for (const auto& sg : config.securityGroupIds)
    if (!validId(sg, "sg-"))
      return fail(Code::kInvalidArgument,
                  "alibabacloud: -security-group-ids (SECURITY_GROUP_IDS): \"" + sg +
                      "\" is not a security group id (sg-...)");
  std::unique_ptr<AlibabaProvider> p(new AlibabaProvider(config, std::move(deps)));
  AlibabaConfig& c = p->config_;
  if (c.nodeName.empty()) c.nodeName = p->deps_.env("NODE_NAME").value_or("");
  if (c.ecsEndpoint.empty()) c.ecsEndpoint = ecsEndpointFor(c.region);
  if (c.vpcEndpoint.empty()) c.vpcEndpoint = vpcEndpointFor(c.region);
  for (const auto* e : {&c.ecsEndpoint, &c.vpcEndpoint})
    if (hostOfUrl(*e).empty())
      return fail(Code::kInvalidArgument,
                  "alibabacloud: endpoint \"" + *e + "\" is not an http(s) URL");

  CredentialInputs in;
  in.accessKeyId = c.accessKeyId;
  in.accessKeySecret = c.secretKey;
  in.securityToken = c.securityToken;
  in.stsEndpoint = c.stsEndpoint;
  in.metadataEndpoint = c.metadataEndpoint;
  in.env = p->deps_.env;
  in.http = p->deps_.http;
  in.clock = p->deps_.clock;
  auto creds = makeCredentials(in);
  if (!creds) return fail(creds.error().wrap("alibabacloud"));
  // As upstream: without credentials the provider does not start.
  if (auto got = (*creds)->get(); !got) return fail(got.error().wrap("alibabacloud: credentials"));

  AcsClientOptions o;
  o.mutatingCallsPerSecond = c.mutatingCallsPerSecond;
  o.sleep = p->deps_.sleep;
  o.clock = p->deps_.clock;
  o.endpoint = c.ecsEndpoint;
  o.version = kEcsVersion;
  p->ecs_ = std::make_unique<AcsClient>(p->deps_.http, *creds, o);
  o.endpoint = c.vpcEndpoint;
  o.version = kVpcVersion;
  p->vpc_ = std::make_unique<AcsClient>(p->deps_.http, *creds, o);
  log::info(kLog, "region {}, instance type {}, ECS endpoint {}, {}", c.region, c.instanceType,
            c.ecsEndpoint, c.disableCvm ? "confidential VMs off" : "TDX confidential VMs");
  return p;
}

void AlibabaProvider::pause() {
  if (deps_.sleep)
    deps_.sleep(deps_.pollInterval);
  else
    std::this_thread::sleep_for(deps_.pollInterval);
}

Status AlibabaProvider::waitUntil(const std::string& what, std::chrono::nanoseconds timeout,
                                  const std::function<Result<bool>()>& done) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int64_t maxPolls = std::max<int64_t>(1, timeout / std::max(deps_.pollInterval, 1ms));
  for (int64_t n = 0;; ++n) {
    auto r = done();
    if (!r) return fail(r.error());
    if (*r) return {};
    if (n + 1 >= maxPolls || std::chrono::steady_clock::now() >= deadline)
      return fail(
          Code::kDeadlineExceeded,
          "alibabacloud: " + what + ": not done after " +
              std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) +
              " s");
    pause();
  }
}

Result<std::string> AlibabaProvider::instanceTypeFor(const InstanceSpec& spec) {
  bool sizing =
      spec.instanceType.empty() && (spec.gpus > 0 || (spec.vcpus > 0 && spec.memoryMiB > 0));
  std::lock_guard lock(lookupMu_);
  if (sizing && !typesLoaded_) {
    std::vector<std::string> names = config_.instanceTypes.empty()
                                         ? std::vector<std::string>{config_.instanceType}
                                         : config_.instanceTypes;
    std::vector<InstanceTypeInfo> table;
    for (size_t start = 0; start < names.size(); start += 10) {
      Params q;
      for (size_t i = start; i < names.size() && i < start + 10; ++i)
        q["InstanceTypes." + std::to_string(i - start + 1)] = names[i];
      auto r = ecs_->call("DescribeInstanceTypes", q, false);
      if (!r) return fail(r.error().toError("alibabacloud: DescribeInstanceTypes"));
      const json& list = path(*r, {"InstanceTypes", "InstanceType"});
      if (!list.is_array())
        return fail(Code::kInternal,
                    "alibabacloud: DescribeInstanceTypes: no InstanceTypes.InstanceType list");
      for (const auto& t : list) {
        auto info = parseInstanceType(t);
        if (!info) return fail(info.error());
        table.push_back(std::move(*info));
      }
    }
    for (const auto& n : names) {
      bool found = false;
      for (const auto& t : table) found = found || t.name == n;
      if (!found)
        return fail(Code::kInvalidArgument,
                    "alibabacloud: instance type " + n + " not found (DescribeInstanceTypes)");
    }
    typeTable_ = std::move(table);
    typesLoaded_ = true;
  }
  return selectInstanceType(spec, config_.instanceType, config_.instanceTypes, typeTable_);
}

Result<std::string> AlibabaProvider::vpcOfVSwitch() {
  auto r = vpc_->call("DescribeVSwitchAttributes",
                      {{"RegionId", config_.region}, {"VSwitchId", config_.vswitchId}}, false);
  if (!r)
    return fail(r.error().toError("alibabacloud: DescribeVSwitchAttributes " + config_.vswitchId));
  std::string vpc = jsonf::stringField(*r, "VpcId");
  if (vpc.empty())
    return fail(Code::kInternal,
                "alibabacloud: DescribeVSwitchAttributes: the answer has no VpcId");
  if (!config_.vpcId.empty() && vpc != config_.vpcId)
    return fail(Code::kInvalidArgument, "alibabacloud: -vpc-id is " + config_.vpcId +
                                            " but vSwitch " + config_.vswitchId + " is in " + vpc);
  return vpc;
}

Result<Params> AlibabaProvider::runInstancesParams(const CreateRequest& req,
                                                   const std::string& clientToken) {
  const AlibabaConfig& c = config_;
  std::string image = req.spec.image.empty() ? c.imageId : req.spec.image;
  if (!req.spec.image.empty())
    log::info(kLog, "Choosing {} from annotation as the ECS Image for the PodVM image", image);
  if (image.empty())
    return fail(Code::kInvalidArgument, "alibabacloud: no pod VM image: set -imageid (IMAGEID)");
  if (c.vswitchId.empty())
    return fail(Code::kInvalidArgument, "alibabacloud: -vswitch-id (VSWITCH_ID) is not set");
  if (c.securityGroupIds.empty())
    return fail(Code::kInvalidArgument,
                "alibabacloud: -security-group-ids (SECURITY_GROUP_IDS) is not set");
  if (req.userData.size() > kMaxUserDataBytes)
    return fail(Code::kInvalidArgument,
                "alibabacloud: user data is " + std::to_string(req.userData.size()) +
                    " bytes; ECS takes at most " + std::to_string(kMaxUserDataBytes));
  auto type = instanceTypeFor(req.spec);
  if (!type) return fail(type.error().wrap("alibabacloud"));

  Params p = {{"RegionId", c.region},
              {"Amount", "1"},
              {"MinAmount", "1"},
              {"ImageId", image},
              {"InstanceType", *type},
              {"InstanceChargeType", "PostPaid"},
              {"VSwitchId", c.vswitchId},
              {"UserData", encoding::base64Encode(req.userData)},
              {"InstanceName", req.instanceName},
              {"ClientToken", clientToken}};
  for (size_t i = 0; i < c.securityGroupIds.size(); ++i)
    p["SecurityGroupIds." + std::to_string(i + 1)] = c.securityGroupIds[i];
  std::map<std::string, std::string> tags = c.tags;
  tags[kTagSandbox] = req.sandboxId;
  if (!req.podName.empty()) tags[kTagPod] = req.podName;
  if (!req.podNamespace.empty()) tags[kTagNamespace] = req.podNamespace;
  if (!c.nodeName.empty()) tags[kTagNode] = c.nodeName;
  size_t n = 0;
  for (const auto& [k, v] : tags) {
    ++n;
    p["Tag." + std::to_string(n) + ".Key"] = k;
    p["Tag." + std::to_string(n) + ".Value"] = v;
  }
  if (!c.keyName.empty()) p["KeyPairName"] = c.keyName;
  if (c.usePublicIp) {
    p["InternetChargeType"] = "PayByTraffic";
    p["InternetMaxBandwidthOut"] = "100";
  }
  if (!c.disableCvm) p["SecurityOptions.ConfidentialComputingMode"] = "TDX";
  if (c.systemDiskSize > 0) {
    p["SystemDisk.Size"] = std::to_string(c.systemDiskSize);
    p["SystemDisk.Category"] = "cloud_essd";
  }
  return p;
}

Result<std::vector<AlibabaProvider::Described>> AlibabaProvider::describeInstances(
    const Params& filter) {
  std::vector<Described> out;
  std::string next;
  for (int page = 0; page < 50; ++page) {
    Params q = filter;
    q["RegionId"] = config_.region;
    q["MaxResults"] = "100";
    if (!next.empty()) q["NextToken"] = next;
    auto r = ecs_->call("DescribeInstances", q, false);
    if (!r) return fail(r.error().toError("alibabacloud: DescribeInstances"));
    const json& list = path(*r, {"Instances", "Instance"});
    if (!list.is_null() && !list.is_array())
      return fail(Code::kInternal,
                  "alibabacloud: DescribeInstances: Instances.Instance is not a list");
    if (list.is_array()) {
      // Filters are re-checked here: a filter the service ignored must not widen a delete.
      std::optional<std::string> tagKey;
      std::string tagValue;
      if (auto t = filter.find("Tag.1.Key"); t != filter.end()) {
        tagKey = t->second;
        if (auto v = filter.find("Tag.1.Value"); v != filter.end()) tagValue = v->second;
      }
      for (const auto& i : list) {
        if (auto d = parseDescribedInstance(i, tagKey, tagValue)) out.push_back(std::move(*d));
      }
    }
    next = jsonf::stringField(*r, "NextToken");
    if (next.empty()) return out;
  }
  return fail(Code::kOutOfRange, "alibabacloud: DescribeInstances: more than 50 pages");
}

Result<Instance> AlibabaProvider::waitForAddresses(const std::string& id, const std::string& name) {
  Instance out;
  out.id = id;
  out.name = name;
  std::string ids = json::array({id}).dump();
  auto st =
      waitUntil("waiting for the addresses of " + id, config_.readyTimeout, [&]() -> Result<bool> {
        auto d = describeInstances({{"InstanceIds", ids}});
        if (!d) return fail(d.error());
        if (d->empty()) return false;  // not visible yet
        const Described& i = d->front();
        if (i.privateIps.empty()) return false;
        if (config_.usePublicIp && i.publicIps.empty()) return false;
        out.ips = i.privateIps;
        if (config_.usePublicIp) out.ips.insert(out.ips.begin(), i.publicIps.front());
        return true;
      });
  if (!st) return fail(st.error());
  return out;
}

Status AlibabaProvider::addExternalNic(const std::string& instanceId) {
  const AlibabaConfig& c = config_;
  std::string nicId;
  for (int tries = 0; tries < 5 && nicId.empty(); ++tries) {
    auto r = ecs_->call("CreateNetworkInterface",
                        {{"RegionId", c.region},
                         {"VSwitchId", c.vswitchId},
                         {"SecurityGroupId", c.securityGroupIds.front()},
                         {"NetworkInterfaceName", nicName(instanceId)},
                         {"Description", "peerpods: external network NIC of " + instanceId}},
                        true);
    if (!r) return fail(r.error().toError("alibabacloud: CreateNetworkInterface"));
    nicId = jsonf::stringField(*r, "NetworkInterfaceId");
  }
  if (nicId.empty())
    return fail(Code::kInternal,
                "alibabacloud: CreateNetworkInterface answered no NetworkInterfaceId");
  std::string ids = json::array({instanceId}).dump();
  auto running =
      waitUntil("waiting for " + instanceId + " to run", c.readyTimeout, [&]() -> Result<bool> {
        auto d = describeInstances({{"InstanceIds", ids}});
        if (!d) return fail(d.error());
        return !d->empty() && d->front().status == "Running";
      });
  if (!running) return running;
  if (auto r = ecs_->call(
          "AttachNetworkInterface",
          {{"RegionId", c.region}, {"InstanceId", instanceId}, {"NetworkInterfaceId", nicId}},
          true);
      !r)
    return fail(r.error().toError("alibabacloud: AttachNetworkInterface " + nicId));
  auto nicStatus = [&](const std::string& want) -> Result<bool> {
    auto r = ecs_->call("DescribeNetworkInterfaceAttribute",
                        {{"RegionId", c.region}, {"NetworkInterfaceId", nicId}}, false);
    if (!r)
      return fail(r.error().toError("alibabacloud: DescribeNetworkInterfaceAttribute " + nicId));
    return jsonf::stringField(*r, "Status") == want;
  };
  if (auto st = waitUntil("attaching " + nicId, c.readyTimeout, [&] { return nicStatus("InUse"); });
      !st)
    return st;
  if (auto r = ecs_->call(
          "ModifyNetworkInterfaceAttribute",
          {{"RegionId", c.region}, {"NetworkInterfaceId", nicId}, {"DeleteOnRelease", "true"}},
          true);
      !r)
    return fail(r.error().toError("alibabacloud: ModifyNetworkInterfaceAttribute " + nicId));
  log::info(kLog, "attached network interface {} to instance {}", nicId, instanceId);
  if (!c.usePublicIp) return {};

  auto alloc = vpc_->call("AllocateEipAddress",
                          {{"RegionId", c.region},
                           {"Name", eipName(instanceId)},
                           {"Description", "Peerpod External Network EIP"}},
                          true);
  if (!alloc) return fail(alloc.error().toError("alibabacloud: AllocateEipAddress"));
  std::string eipId = jsonf::stringField(*alloc, "AllocationId");
  if (eipId.empty())
    return fail(Code::kInternal, "alibabacloud: AllocateEipAddress answered no AllocationId");
  auto eipStatus = [&](const std::string& want) -> Result<bool> {
    auto r = vpc_->call("DescribeEipAddresses", {{"RegionId", c.region}, {"AllocationId", eipId}},
                        false);
    if (!r) return fail(r.error().toError("alibabacloud: DescribeEipAddresses " + eipId));
    const json& list = path(*r, {"EipAddresses", "EipAddress"});
    return list.is_array() && !list.empty() && jsonf::stringField(list[0], "Status") == want;
  };
  if (auto st =
          waitUntil("allocating " + eipId, c.readyTimeout, [&] { return eipStatus("Available"); });
      !st)
    return st;
  if (auto r = vpc_->call("AssociateEipAddress",
                          {{"RegionId", c.region},
                           {"AllocationId", eipId},
                           {"InstanceId", nicId},
                           {"InstanceType", "NetworkInterface"}},
                          true);
      !r)
    return fail(r.error().toError("alibabacloud: AssociateEipAddress " + eipId));
  if (auto st = waitUntil("binding " + eipId, c.readyTimeout, [&] { return eipStatus("InUse"); });
      !st)
    return st;
  log::info(kLog, "bound EIP {} to network interface {}", eipId, nicId);
  return {};
}

Result<Instance> AlibabaProvider::createInstance(const CreateRequest& req) {
  std::string clientToken = "pp-" + newNonce().substr(0, 40);
  auto params = runInstancesParams(req, clientToken);
  if (!params) return fail(params.error());
  {
    std::lock_guard lock(lookupMu_);
    if (!vswitchChecked_) {
      auto vpc = vpcOfVSwitch();
      if (!vpc) return fail(vpc.error());
      config_.vpcId = *vpc;
      vswitchChecked_ = true;
    }
  }
  log::info(kLog, "CreateInstance: name: {}", req.instanceName);
  auto r = ecs_->call("RunInstances", *params, true);
  if (!r) {
    Error err = r.error().toError("alibabacloud: RunInstances " + req.instanceName);
    if (!mayHaveBeenApplied(err)) return fail(err);
    // The answer was lost: an instance may exist. It carries the sandbox tag.
    auto found = describeInstances({{"Tag.1.Key", kTagSandbox}, {"Tag.1.Value", req.sandboxId}});
    if (!found) {
      err.message += "; looking for an instance it may have made failed: " + found.error().message;
      return fail(err);
    }
    for (const auto& i : *found) {
      if (auto st = deleteInstance(i.id); !st)
        err.message += "; deleting " + i.id + " failed too: " + st.error().message;
      else
        log::info(kLog, "deleted instance {} after a failed RunInstances", i.id);
    }
    return fail(err);
  }
  auto ids = stringList(path(*r, {"InstanceIdSets", "InstanceIdSet"}));
  if (ids.size() != 1 || !validId(ids[0], "i-"))
    return fail(Code::kInternal,
                "alibabacloud: RunInstances " + req.instanceName +
                    ": the answer has no single valid InstanceIdSets.InstanceIdSet");
  const std::string id = ids[0];
  log::info(kLog, "created an instance {} for sandbox {}", id, req.sandboxId);
  auto cleanup = [&](Error err) -> Result<Instance> {
    if (auto st = deleteInstance(id); !st) {
      log::error(kLog, "deleting instance {} after a failed create: {}", id, st.error().message);
      err.message += "; deleting the instance failed too: " + st.error().message;
    } else {
      log::info(kLog, "deleted instance {} after a failed create", id);
    }
    return fail(std::move(err));
  };
  auto inst = waitForAddresses(id, req.instanceName);
  if (!inst) return cleanup(inst.error());
  if (req.spec.multiNic) {
    if (auto st = addExternalNic(id); !st) return cleanup(st.error());
  }
  return *inst;
}

Status AlibabaProvider::releaseEips(const std::string& instanceId) {
  const std::string name = eipName(instanceId);
  auto r = vpc_->call("DescribeEipAddresses",
                      {{"RegionId", config_.region}, {"EipName", name}, {"PageSize", "50"}}, false);
  if (!r) {
    Error e = r.error().toError("alibabacloud: DescribeEipAddresses " + name);
    // A RAM policy without the EIP actions (no -ext-network-via-podvm) made no EIP to release.
    if (e.code != Code::kPermissionDenied) return fail(e);
    log::warn(kLog, "not looking for an EIP of {}: {}", instanceId, e.message);
    return {};
  }
  const json& list = path(*r, {"EipAddresses", "EipAddress"});
  if (!list.is_array()) return {};
  for (const auto& e : list) {
    // Only our own: a filter the service ignored must not release another EIP.
    if (jsonf::stringField(e, "Name") != name) continue;
    std::string id = jsonf::stringField(e, "AllocationId");
    if (id.empty()) continue;
    if (jsonf::stringField(e, "Status") == "InUse") {
      auto u = vpc_->call("UnassociateEipAddress",
                          {{"RegionId", config_.region},
                           {"AllocationId", id},
                           {"InstanceId", jsonf::stringField(e, "InstanceId")},
                           {"InstanceType", jsonf::stringField(e, "InstanceType")}},
                          true);
      if (!u && u.error().code.find("NotFound") == std::string::npos)
        return fail(u.error().toError("alibabacloud: UnassociateEipAddress " + id));
      auto st = waitUntil("unbinding " + id, 60s, [&]() -> Result<bool> {
        auto d = vpc_->call("DescribeEipAddresses",
                            {{"RegionId", config_.region}, {"AllocationId", id}}, false);
        if (!d) return fail(d.error().toError("alibabacloud: DescribeEipAddresses " + id));
        const json& l = path(*d, {"EipAddresses", "EipAddress"});
        return !l.is_array() || l.empty() || jsonf::stringField(l[0], "Status") == "Available";
      });
      if (!st) return st;
    }
    auto rel =
        vpc_->call("ReleaseEipAddress", {{"RegionId", config_.region}, {"AllocationId", id}}, true);
    if (!rel && rel.error().code.find("NotFound") == std::string::npos)
      return fail(rel.error().toError("alibabacloud: ReleaseEipAddress " + id));
    log::info(kLog, "released EIP {} of instance {}", id, instanceId);
  }
  return {};
}

Status AlibabaProvider::deleteNics(const std::string& instanceId) {
  const std::string name = nicName(instanceId);
  auto r = ecs_->call(
      "DescribeNetworkInterfaces",
      {{"RegionId", config_.region}, {"NetworkInterfaceName", name}, {"MaxResults", "100"}}, false);
  if (!r) {
    Error e = r.error().toError("alibabacloud: DescribeNetworkInterfaces " + name);
    if (e.code != Code::kPermissionDenied) return fail(e);
    log::warn(kLog, "not looking for an extra NIC of {}: {}", instanceId, e.message);
    return {};
  }
  const json& list = path(*r, {"NetworkInterfaceSets", "NetworkInterfaceSet"});
  if (!list.is_array()) return {};
  for (const auto& n : list) {
    if (jsonf::stringField(n, "NetworkInterfaceName") != name) continue;
    std::string id = jsonf::stringField(n, "NetworkInterfaceId");
    if (id.empty()) continue;
    // A NIC still attached detaches as its instance goes away.
    bool gone = false;
    auto st = waitUntil("detaching " + id, 60s, [&]() -> Result<bool> {
      auto d = ecs_->call("DescribeNetworkInterfaceAttribute",
                          {{"RegionId", config_.region}, {"NetworkInterfaceId", id}}, false);
      if (!d) {
        if (d.error().code.find("NotFound") != std::string::npos) return gone = true;
        return fail(d.error().toError("alibabacloud: DescribeNetworkInterfaceAttribute " + id));
      }
      return jsonf::stringField(*d, "Status") == "Available";
    });
    if (!st) return st;
    if (gone) continue;
    auto del = ecs_->call("DeleteNetworkInterface",
                          {{"RegionId", config_.region}, {"NetworkInterfaceId", id}}, true);
    if (!del && del.error().code.find("NotFound") == std::string::npos)
      return fail(del.error().toError("alibabacloud: DeleteNetworkInterface " + id));
    log::info(kLog, "deleted network interface {} of instance {}", id, instanceId);
  }
  return {};
}

Status AlibabaProvider::deleteOnly(const std::string& id) {
  Status result;
  auto st = waitUntil("deleting " + id, 60s, [&]() -> Result<bool> {
    auto r = ecs_->call("DeleteInstance", {{"InstanceId", id}, {"Force", "true"}}, true);
    if (r) return true;
    if (r.error().code == "IncorrectInstanceStatus") {
      log::info(kLog, "instance {} is not in a state to be deleted yet, retrying", id);
      return false;
    }
    if (r.error().code == "InvalidInstanceId.NotFound") {
      log::info(kLog, "instance {} is already gone", id);
      return true;
    }
    return fail(r.error().toError("alibabacloud: DeleteInstance " + id));
  });
  return st;
}

Status AlibabaProvider::deleteInstance(const std::string& id) {
  if (!validId(id, "i-"))
    return fail(Code::kInvalidArgument, "alibabacloud: bad instance id \"" + id + "\"");
  log::info(kLog, "Deleting instance ({})", id);
  if (auto st = releaseEips(id); !st) return st;
  if (auto st = deleteOnly(id); !st) return st;
  if (auto st = deleteNics(id); !st) return st;
  log::info(kLog, "deleted instance {}", id);
  return {};
}

Status AlibabaProvider::verifyConfig() {
  if (config_.imageId.empty())
    return fail(Code::kInvalidArgument, "alibabacloud: -imageid (IMAGEID) is not set");
  if (config_.vswitchId.empty())
    return fail(Code::kInvalidArgument, "alibabacloud: -vswitch-id (VSWITCH_ID) is not set");
  if (config_.securityGroupIds.empty())
    return fail(Code::kInvalidArgument,
                "alibabacloud: -security-group-ids (SECURITY_GROUP_IDS) is not set");
  if (auto v = vpcOfVSwitch(); !v) return fail(v.error());
  InstanceSpec sizing;
  sizing.vcpus = 1;
  sizing.memoryMiB = 1;
  if (auto t = instanceTypeFor(sizing); !t && t.error().code != Code::kNotFound)
    return fail(t.error().wrap("checking -instance-type / -instance-types"));
  return {};
}

Result<std::vector<Instance>> AlibabaProvider::listInstances(const std::string& tag) {
  Params filter = {{"Tag.1.Key", kTagSandbox}};
  if (!tag.empty()) filter["Tag.1.Value"] = tag;
  auto found = describeInstances(filter);
  if (!found) return fail(found.error());
  std::vector<Instance> out;
  for (const auto& d : *found) {
    Instance i;
    i.id = d.id;
    i.name = d.name;
    i.ips = d.privateIps;
    if (config_.usePublicIp && !d.publicIps.empty())
      i.ips.insert(i.ips.begin(), d.publicIps.front());
    out.push_back(std::move(i));
  }
  return out;
}

}  // namespace pp::providers::alibabacloud
