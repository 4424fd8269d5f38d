// The aws provider (see aws_provider.h).
#include "providers/aws/aws_provider.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "base/encoding.h"
#include "base/log.h"
#include "base/strings.h"
#include "providers/aws/endpoints.h"
#include "providers/aws/shared_config.h"
#include "providers/registry.h"

namespace pp::providers::aws {
namespace {

using namespace std::chrono_literals;
constexpr const char* kLog = "aws";

std::string randomHex(size_t bytes) {
  std::string b(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(b.data()), static_cast<int>(bytes)) != 1) {
    for (auto& c : b) c = static_cast<char>(std::rand());
  }
  return encoding::hexEncode(b);
}

}  // namespace

void registerAwsFlags(flags::FlagSet& fs, AwsConfig& c) {
  fs.stringVar(&c.accessKeyId, "aws-access-key-id", "", "AWS_ACCESS_KEY_ID", "Access Key ID")
      .secret();
  fs.stringVar(&c.secretKey, "aws-secret-key", "", "AWS_SECRET_ACCESS_KEY", "Secret Key").secret();
  fs.stringVar(&c.sessionToken, "aws-session-token", "", "AWS_SESSION_TOKEN", "Session Token")
      .secret();
  fs.stringVar(&c.region, "aws-region", "", "AWS_REGION", "Region");
  fs.stringVar(&c.profile, "aws-profile", "", "", "AWS Login Profile");
  fs.stringVar(&c.launchTemplateName, "aws-lt-name", "kata", "PODVM_LAUNCHTEMPLATE_NAME",
               "AWS Launch Template Name");
  fs.boolVar(&c.useLaunchTemplate, "use-lt", false, "USE_PODVM_LAUNCHTEMPLATE",
             "Use EC2 Launch Template for the Pod VMs");
  fs.stringVar(&c.imageId, "imageid", "", "PODVM_AMI_ID", "Pod VM ami id").required();
  fs.stringVar(&c.instanceType, "instance-type", "m6a.large", "PODVM_INSTANCE_TYPE",
               "Pod VM instance type");
  fs.stringListVar(&c.securityGroupIds, "securitygroupids", {}, "AWS_SG_IDS",
                   "Security Group Ids to be used for the Pod VM, comma separated");
  fs.stringVar(&c.keyName, "keyname", "", "SSH_KP_NAME",
               "SSH Keypair name to be used with the Pod VM");
  fs.stringVar(&c.subnetId, "subnetid", "", "AWS_SUBNET_ID",
               "Subnet ID to be used for the Pod VMs");
  fs.stringListVar(&c.instanceTypes, "instance-types", {}, "PODVM_INSTANCE_TYPES",
                   "Instance types to be used for the Pod VMs, comma separated");
  fs.keyValueVar(&c.tags, "tags", {}, "TAGS",
                 "Custom tags (key=value pairs) to be used for the Pod VMs, comma separated");
  fs.boolVar(&c.usePublicIp, "use-public-ip", false, "USE_PUBLIC_IP",
             "Use Public IP for connecting to the kata-agent inside the Pod VM");
  fs.intVar(&c.rootVolumeSize, "root-volume-size", 30, "ROOT_VOLUME_SIZE",
            "Root volume size (in GiB) for the Pod VMs");
  fs.boolVar(&c.disableCvm, "disable-cvm", false, "DISABLECVM", "Use non-CVMs for peer pods");
  // Ours.
  fs.floatVar(&c.mutatingCallsPerSecond, "aws-api-rate", 2, "AWS_API_RATE",
              "Most EC2 RunInstances/TerminateInstances calls per second (client-side token "
              "bucket; 0: unlimited)");
  fs.durationVar(
      &c.ipTimeout, "aws-ip-timeout", 180s, "AWS_IP_TIMEOUT",
      "How long to wait for a new pod VM's IP address before giving up (and terminating it)");
  fs.stringVar(&c.metadataHttpTokens, "aws-metadata-http-tokens", "required",
               "AWS_METADATA_HTTP_TOKENS",
               "Pod VM instance metadata tokens: required (IMDSv2 only), optional (IMDSv1 too), or "
               "empty for the AMI/account default");
}

PP_REGISTER_PROVIDER("aws", AwsConfig, registerAwsFlags, buildWith<AwsProvider>)

Result<std::unique_ptr<AwsProvider>> AwsProvider::create(const AwsConfig& config,
                                                         AwsDependencies deps) {
  if (!deps.env) deps.env = flags::processEnv();
  if (!deps.clock) deps.clock = systemClock();
  if (config.rootVolumeSize < 0)
    return fail(Code::kInvalidArgument, "-root-volume-size must not be negative");
  if (!config.metadataHttpTokens.empty() && config.metadataHttpTokens != "required" &&
      config.metadataHttpTokens != "optional") {
    return fail(Code::kInvalidArgument,
                "-aws-metadata-http-tokens must be required, optional or empty");
  }
  std::unique_ptr<AwsProvider> p(new AwsProvider(config, deps));
  AwsConfig& c = p->config_;
  const auto& env = p->deps_.env;
  if (c.nodeName.empty()) c.nodeName = env("NODE_NAME").value_or("");
  p->imds_ = std::make_shared<ImdsClient>(p->deps_.http, env);

  std::string profile = profileName(c.profile, env);
  auto settings = loadProfile(profile, env);
  if (!settings) return fail(settings.error().wrap("AWS profile " + profile));
  if (profile != "default" && !settings->found) {
    // As the SDKs: a profile asked for by name must exist.
    return fail(Code::kInvalidArgument,
                "AWS profile \"" + profile +
                    "\" is in neither the shared credentials nor the "
                    "config file (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE)");
  }

  // Region: flag/AWS_REGION, AWS_DEFAULT_REGION, the profile, then IMDS.
  if (c.region.empty()) c.region = env("AWS_DEFAULT_REGION").value_or("");
  if (c.region.empty()) c.region = settings->region;
  bool imdsUsable = !p->imds_->disabled();
  auto fromImds = [&](const std::string& path) -> std::optional<std::string> {
    if (!imdsUsable) return std::nullopt;
    auto v = p->imds_->get(path);
    if (!v) {
      if (v.error().code == Code::kNotFound) {
        log::debug(kLog, "instance metadata {}: not set", path);
      } else {
        log::warn(kLog, "instance metadata {}: {}", path, v.error().message);
        imdsUsable = false;  // unreachable: stop asking
      }
      return std::nullopt;
    }
    return std::string(strings::trimRight(*v));
  };
  if (c.region.empty()) {
    if (auto r = fromImds("meta-data/placement/region")) c.region = *r;
  }
  if (c.region.empty()) {
    return fail(Code::kInvalidArgument,
                "no AWS region: set -aws-region or AWS_REGION (the instance metadata service did "
                "not tell it)");
  }
  // Network defaults from the node's own instance, as upstream.
  if (c.subnetId.empty() || c.securityGroupIds.empty()) {
    if (auto mac = fromImds("meta-data/mac")) {
      std::string base = "meta-data/network/interfaces/macs/" + *mac + "/";
      if (c.subnetId.empty()) {
        if (auto s = fromImds(base + "subnet-id")) c.subnetId = *s;
      }
      if (c.securityGroupIds.empty()) {
        if (auto g = fromImds(base + "security-group-ids")) c.securityGroupIds.push_back(*g);
      }
    }
  }
  if (c.keyName.empty()) {
    if (auto k = fromImds("meta-data/public-keys/")) {
      // "0=my-key-name"
      std::string first = k->substr(0, k->find('\n'));
      if (auto eq = first.find('='); eq != std::string::npos) c.keyName = first.substr(eq + 1);
    }
  }
  // Security group ids from IMDS come newline-separated; splitList only splits commas.
  std::vector<std::string> groups;
  for (const auto& g : c.securityGroupIds) {
    size_t start = 0;
    while (start <= g.size()) {
      size_t nl = g.find('\n', start);
      std::string one = std::string(strings::trimRight(std::string_view(g).substr(
          start, nl == std::string::npos ? std::string::npos : nl - start)));
      if (!one.empty()) groups.push_back(one);
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
  }
  c.securityGroupIds = groups;

  auto ec2 = resolveEndpoint("ec2", c.region, env, settings->endpointUrl);
  if (!ec2) return fail(ec2.error());
  auto sts = resolveEndpoint("sts", c.region, env, settings->endpointUrl);
  if (!sts) return fail(sts.error());
  p->ec2Endpoint_ = *ec2;
  p->stsEndpoint_ = *sts;

  CredentialsInputs in;
  in.accessKeyId = c.accessKeyId;
  in.secretAccessKey = c.secretKey;
  in.sessionToken = c.sessionToken;
  in.profile = profile;
  in.stsEndpoint = *sts;
  in.env = env;
  in.http = p->deps_.http;
  in.imds = p->imds_;
  in.clock = p->deps_.clock;
  Ec2ClientOptions o;
  o.endpoint = *ec2;
  o.region = c.region;
  o.mutatingCallsPerSecond = c.mutatingCallsPerSecond;
  o.sleep = p->deps_.sleep;
  o.clock = p->deps_.clock;
  p->ec2_ = std::make_unique<Ec2Client>(p->deps_.http, makeDefaultCredentials(in), o);
  log::info(kLog, "region {}, EC2 endpoint {}, subnet {}, security groups {}, key {}", c.region,
            *ec2, c.subnetId.empty() ? "(default)" : c.subnetId, c.securityGroupIds.size(),
            c.keyName.empty() ? "(none)" : c.keyName);
  return p;
}

Status AwsProvider::ensureLookups() {
  std::lock_guard lock(lookupMu_);
  if (lookedUp_) return {};
  std::vector<std::string> types = config_.instanceTypes;
  if (types.empty()) types.push_back(config_.instanceType);
  auto table = ec2_->describeInstanceTypes(types);
  if (!table) return fail(table.error());
  if (config_.rootVolumeSize > 0 && !config_.imageId.empty()) {
    auto img = ec2_->describeImage(config_.imageId);
    if (!img) return fail(img.error());
    rootDeviceName_ = img->rootDeviceName;
    rootVolumeGiB_ = std::max<int64_t>(config_.rootVolumeSize, img->rootVolumeGiB);
  }
  typeTable_ = std::move(*table);
  lookedUp_ = true;
  return {};
}

Result<QueryParams> AwsProvider::runInstancesParams(const CreateRequest& req,
                                                    const std::string& clientToken) {
  const AwsConfig& c = config_;
  if (req.userData.size() > kMaxUserDataBytes) {
    return fail(Code::kInvalidArgument, "user data is " + std::to_string(req.userData.size()) +
                                            " bytes; EC2 accepts at most 16384 (before base64)");
  }
  QueryParams p;
  p.emplace_back("ClientToken", clientToken);
  if (c.useLaunchTemplate) {
    p.emplace_back("LaunchTemplate.LaunchTemplateName", c.launchTemplateName);
  } else {
    std::string image = req.spec.image.empty() ? c.imageId : req.spec.image;
    if (!req.spec.image.empty())  // upstream's words; its e2e suite greps "Choosing <image>"
      log::info(kLog, "Choosing {} from annotation as the AWS AMI for the PodVM image", image);
    if (image.empty())
      return fail(Code::kInvalidArgument, "no pod VM image: set -imageid (PODVM_AMI_ID)");
    auto type = selectInstanceType(req.spec, c.instanceType, c.instanceTypes, typeTable_);
    if (!type) return fail(type.error());
    p.emplace_back("ImageId", image);
    p.emplace_back("InstanceType", *type);
    if (!c.keyName.empty()) p.emplace_back("KeyName", c.keyName);
    if (c.usePublicIp) {
      p.emplace_back("NetworkInterface.1.DeviceIndex", "0");
      p.emplace_back("NetworkInterface.1.AssociatePublicIpAddress", "true");
      p.emplace_back("NetworkInterface.1.DeleteOnTermination", "true");
      if (!c.subnetId.empty()) p.emplace_back("NetworkInterface.1.SubnetId", c.subnetId);
      for (size_t i = 0; i < c.securityGroupIds.size(); ++i) {
        p.emplace_back("NetworkInterface.1.SecurityGroupId." + std::to_string(i + 1),
                       c.securityGroupIds[i]);
      }
    } else {
      if (!c.subnetId.empty()) p.emplace_back("SubnetId", c.subnetId);
      for (size_t i = 0; i < c.securityGroupIds.size(); ++i) {
        p.emplace_back("SecurityGroupId." + std::to_string(i + 1), c.securityGroupIds[i]);
      }
    }
    if (!c.disableCvm) p.emplace_back("CpuOptions.AmdSevSnp", "enabled");
    if (!c.metadataHttpTokens.empty()) {
      p.emplace_back("MetadataOptions.HttpEndpoint", "enabled");
      p.emplace_back("MetadataOptions.HttpTokens", c.metadataHttpTokens);
    }
  }
  if (!rootDeviceName_.empty() && rootVolumeGiB_ > 0) {
    p.emplace_back("BlockDeviceMapping.1.DeviceName", rootDeviceName_);
    p.emplace_back("BlockDeviceMapping.1.Ebs.VolumeSize", std::to_string(rootVolumeGiB_));
    p.emplace_back("BlockDeviceMapping.1.Ebs.DeleteOnTermination", "true");
  }
  p.emplace_back("UserData", encoding::base64Encode(req.userData));
  std::map<std::string, std::string> tags = c.tags;
  tags["Name"] = req.instanceName;
  tags[kTagSandbox] = req.sandboxId;
  tags[kTagPod] = req.podName;
  tags[kTagNamespace] = req.podNamespace;
  if (!c.nodeName.empty()) tags[kTagNode] = c.nodeName;
  p.emplace_back("TagSpecification.1.ResourceType", "instance");
  int n = 0;
  for (const auto& [k, v] : tags) {
    ++n;
    p.emplace_back("TagSpecification.1.Tag." + std::to_string(n) + ".Key", k);
    p.emplace_back("TagSpecification.1.Tag." + std::to_string(n) + ".Value", v);
  }
  return p;
}

Result<Ec2Instance> AwsProvider::waitForAddress(const std::string& id, bool requireRunning) {
  auto deadline = std::chrono::steady_clock::now() + config_.ipTimeout;
  for (;;) {
    auto r = ec2_->describeInstances({{"InstanceId.1", id}});
    if (r && r->size() == 1) {
      const Ec2Instance& i = (*r)[0];
      if (i.state == "shutting-down" || i.state == "terminated" || i.state == "stopping" ||
          i.state == "stopped") {
        return fail(Code::kAborted,
                    "instance " + id + " is " + i.state +
                        (i.stateReason.empty() ? std::string() : ": " + i.stateReason));
      }
      bool ready = (config_.usePublicIp ? !i.publicIp.empty() : !i.privateIp.empty()) &&
                   (!requireRunning || i.state == "running");
      if (ready) return i;
    } else if (!r && r.error().code != Code::kNotFound) {
      // NotFound right after RunInstances is EC2's eventual consistency; anything else stops us.
      return fail(r.error());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return fail(Code::kDeadlineExceeded,
                  "instance " + id + " has no " + (config_.usePublicIp ? "public" : "private") +
                      " IP address after " + flags::formatDuration(config_.ipTimeout) +
                      " (-aws-ip-timeout)");
    }
    std::this_thread::sleep_for(deps_.pollInterval);
  }
}

Status AwsProvider::terminateAfterFailure(const std::string& id, Error& err) {
  auto st = ec2_->terminateInstance(id);
  if (!st) {
    log::error(kLog, "terminating instance {} after a failed create: {}", id, st.error().message);
    err.message += "; terminating it failed too: " + st.error().message;
  } else {
    log::info(kLog, "terminated instance {} after a failed create", id);
  }
  return st;
}

Result<Instance> AwsProvider::createInstance(const CreateRequest& req) {
  if (req.spec.multiNic && config_.useLaunchTemplate) {
    return fail(Code::kInvalidArgument,
                "aws: -ext-network-via-podvm cannot be used with a launch template (-use-lt)");
  }
  if (req.spec.multiNic && config_.subnetId.empty()) {
    return fail(Code::kInvalidArgument,
                "aws: -ext-network-via-podvm needs a subnet for the second interface (-subnetid)");
  }
  if (auto st = ensureLookups(); !st)
    return fail(st.error().wrap("aws: preparing instance creation"));
  std::string token = "pp-" + req.sandboxId.substr(0, 32) + "-" + randomHex(8);
  auto params = runInstancesParams(req, token);
  if (!params) return fail(params.error());
  auto created = ec2_->runInstances(*params);
  if (!created) {
    // When the answer was lost (timeouts, 5xx), EC2 may still have started the instance: find
    // it by the client token and terminate it, so that the failed StartVM leaks nothing.
    if (mayHaveBeenApplied(created.error())) cleanupByClientToken(token);
    return fail(created.error());
  }
  const std::string id = created->id;
  log::info(kLog, "created instance {} ({}) for sandbox {}", id, req.instanceName, req.sandboxId);

  Ec2Instance inst = *created;
  bool multiNic = req.spec.multiNic;
  bool ready = (config_.usePublicIp ? !inst.publicIp.empty() : !inst.privateIp.empty()) &&
               (!multiNic || inst.state == "running");
  if (!ready) {
    // A second interface can only be attached to a running instance.
    auto waited = waitForAddress(id, multiNic);
    if (!waited) {
      Error err = waited.error().wrap("aws: instance " + id);
      (void)terminateAfterFailure(id, err);
      return fail(std::move(err));
    }
    inst = *waited;
  }
  if (multiNic) {
    std::string nicId;
    if (auto st = attachSecondaryNic(id, token, &nicId); !st) {
      Error err = st.error().wrap("aws: instance " + id);
      releaseAddresses(id);
      (void)terminateAfterFailure(id, err);
      if (!nicId.empty()) {
        // Attached without DeleteOnTermination: it outlives the instance unless deleted, which
        // EC2 allows only once the instance has released it.
        log::error(kLog,
                   "network interface {} of failed instance {} may remain; delete it once "
                   "it is available",
                   nicId, id);
        err.message += "; network interface " + nicId + " may remain";
      }
      return fail(std::move(err));
    }
  }
  Instance out;
  out.id = id;
  out.name = req.instanceName;
  out.ips.push_back(config_.usePublicIp ? inst.publicIp : inst.privateIp);
  return out;
}

void AwsProvider::cleanupByClientToken(const std::string& token) {
  auto found =
      ec2_->describeInstances({{"Filter.1.Name", "client-token"}, {"Filter.1.Value.1", token}});
  if (!found) {
    log::error(
        kLog, "could not check for an instance left by a failed RunInstances (client token {}): {}",
        token, found.error().message);
    return;
  }
  for (const auto& i : *found) {
    if (i.state == "terminated") continue;
    auto st = ec2_->terminateInstance(i.id);
    if (st)
      log::info(kLog, "terminated instance {} left by a failed RunInstances", i.id);
    else
      log::error(kLog, "terminating instance {} left by a failed RunInstances: {}", i.id,
                 st.error().message);
  }
}

Status AwsProvider::deleteInstance(const std::string& id) {
  if (id.empty()) return fail(Code::kInvalidArgument, "aws: empty instance id");
  releaseAddresses(id);
  auto st = ec2_->terminateInstance(id);
  if (st) log::info(kLog, "terminating instance {}", id);
  return st;
}

Status AwsProvider::verifyConfig() {
  if (!config_.useLaunchTemplate && config_.imageId.empty()) {
    return fail(Code::kInvalidArgument, "aws: -imageid (PODVM_AMI_ID) is not set");
  }
  if (!config_.imageId.empty() && config_.rootVolumeSize == 0) {
    if (auto img = ec2_->describeImage(config_.imageId); !img)
      return fail(img.error().wrap("aws: checking the pod VM image"));
  }
  if (auto st = ensureLookups(); !st)
    return fail(st.error().wrap("aws: checking the configuration"));
  return {};
}

Result<std::vector<Instance>> AwsProvider::listInstances(const std::string& tag) {
  QueryParams q;
  if (tag.empty()) {
    q = {{"Filter.1.Name", "tag-key"}, {"Filter.1.Value.1", kTagSandbox}};
  } else {
    q = {{"Filter.1.Name", std::string("tag:") + kTagSandbox}, {"Filter.1.Value.1", tag}};
  }
  q.emplace_back("Filter.2.Name", "instance-state-name");
  const char* live[] = {"pending", "running", "stopping", "stopped"};
  for (int i = 0; i < 4; ++i) q.emplace_back("Filter.2.Value." + std::to_string(i + 1), live[i]);
  q.emplace_back("MaxResults", "500");
  auto r = ec2_->describeInstances(q);
  if (!r) return fail(r.error());
  std::vector<Instance> out;
  for (const auto& i : *r) {
    Instance x;
    x.id = i.id;
    auto it = i.tags.find("Name");
    x.name = it == i.tags.end() ? "" : it->second;
    if (!i.privateIp.empty()) x.ips.push_back(i.privateIp);
    out.push_back(std::move(x));
  }
  return out;
}

}  // namespace pp::providers::aws
