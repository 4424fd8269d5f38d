// The ibmcloud (VPC) provider (see ibmcloud_provider.h).
#include "providers/ibmcloud/ibmcloud_provider.h"

#include <algorithm>
#include <cctype>
#include <thread>

#include "base/log.h"
#include "providers/registry.h"
#include "providers/tags.h"

namespace pp::providers::ibmcloud {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
constexpr const char* kLog = "ibmcloud";

bool usableIp(const std::string& ip) {
  return !ip.empty() && ip != "0.0.0.0";
}

// VPC resource ids: lowercase letters, digits, '-' and '_' (e.g. 0717_1e09281b-f177-...).
bool plausibleId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

}  // namespace

std::string userTag(std::string_view key, std::string_view value) {
  std::string out;
  auto add = [&](std::string_view part) {
    for (char c : part) {
      unsigned char u = static_cast<unsigned char>(c);
      char l = static_cast<char>(std::tolower(u));
      bool ok = std::isalnum(u) || c == ' ' || c == '_' || c == '-' || c == '.' || c == ':';
      out.push_back(ok ? l : '-');
    }
  };
  add(key);
  out.push_back(':');
  add(value);
  if (out.size() > 128) out.resize(128);
  return out;
}

void registerIbmCloudFlags(flags::FlagSet& fs, IbmCloudConfig& c) {
  fs.stringVar(&c.apiKey, "api-key", "", "IBMCLOUD_API_KEY", "IBM Cloud API key").secret();
  fs.stringVar(&c.iamProfileId, "iam-profile-id", "", "IBMCLOUD_IAM_PROFILE_ID",
               "IBM IAM Profile ID");
  fs.stringVar(&c.iamServiceUrl, "iam-service-url", kDefaultIamUrl, "IBMCLOUD_IAM_ENDPOINT",
               "IBM Cloud IAM Service URL");
  fs.stringVar(&c.vpcServiceUrl, "vpc-service-url", kDefaultVpcUrl, "IBMCLOUD_VPC_ENDPOINT",
               "IBM Cloud VPC Service URL (when set empty: from the node's "
               "topology.kubernetes.io/region label)");
  fs.stringVar(&c.resourceGroupId, "resource-group-id", "", "IBMCLOUD_RESOURCE_GROUP_ID",
               "Resource Group ID");
  fs.stringVar(&c.profileName, "profile-name", "", "IBMCLOUD_PODVM_INSTANCE_PROFILE_NAME",
               "Default instance profile name to be used for the Pod VMs");
  fs.stringVar(&c.zoneName, "zone-name", "", "IBMCLOUD_ZONE", "Zone name");
  fs.stringVar(&c.primarySubnetId, "primary-subnet-id", "", "IBMCLOUD_VPC_SUBNET_ID",
               "Primary subnet ID");
  fs.stringVar(&c.primarySecurityGroupId, "primary-security-group-id", "", "IBMCLOUD_VPC_SG_ID",
               "Primary security group ID");
  fs.stringVar(&c.keyId, "key-id", "", "IBMCLOUD_SSH_KEY_ID", "SSH Key ID");
  fs.stringVar(&c.vpcId, "vpc-id", "", "IBMCLOUD_VPC_ID", "VPC ID");
  fs.stringVar(&c.clusterId, "cluster-id", "", "IBMCLOUD_CLUSTER_ID",
               "Cluster ID (empty: key cluster_id of ConfigMap kube-system/cluster-info)");
  fs.boolVar(&c.disableCvm, "disable-cvm", false, "DISABLECVM", "Use non-CVMs for peer pods");
  fs.stringVar(&c.crTokenFile, "cr-token-filename", kDefaultCrTokenFile, "",
               "Projected service account token");
  fs.stringVar(&c.secondarySubnetId, "secondary-subnet-id", "", "", "Secondary subnet ID");
  fs.stringVar(&c.secondarySecurityGroupId, "secondary-security-group-id", "", "",
               "Secondary security group ID");
  fs.stringListVar(&c.profileList, "profile-list", {}, "IBMCLOUD_PODVM_INSTANCE_PROFILE_LIST",
                   "List of instance profile names to be used for the Pod VMs, comma separated");
  fs.stringListVar(&c.imageIds, "image-id", {}, "IBMCLOUD_PODVM_IMAGE_ID",
                   "List of Image IDs, comma separated");
  fs.stringListVar(&c.tags, "tags", {}, "IBMCLOUD_TAGS",
                   "List of tags to attach to the Pod VMs, comma separated");
  // Ours.
  fs.stringVar(&c.taggingServiceUrl, "tagging-service-url", kDefaultTaggingUrl,
               "IBMCLOUD_TAGGING_ENDPOINT", "IBM Cloud Global Tagging API URL");
  fs.durationVar(&c.ipWaitTimeout, "ip-wait-timeout", 60s, "IBMCLOUD_IP_WAIT_TIMEOUT",
                 "How long a new instance's network interfaces may take to get their IP "
                 "addresses before the create fails (and the instance is deleted)");
  fs.floatVar(&c.mutatingCallsPerSecond, "ibmcloud-api-rate", 2, "IBMCLOUD_API_RATE",
              "Most instance create/delete and tag calls per second (client-side token bucket; "
              "0: unlimited)");
}

PP_REGISTER_PROVIDER("ibmcloud", IbmCloudConfig, registerIbmCloudFlags, buildWith<IbmCloudProvider>)

Result<std::unique_ptr<IbmCloudProvider>> IbmCloudProvider::create(const IbmCloudConfig& config,
                                                                   IbmCloudDependencies deps) {
  if (!deps.env) deps.env = flags::processEnv();
  if (!deps.clock) deps.clock = systemClock();
  if (config.imageIds.empty())
    return fail(Code::kInvalidArgument, "ibmcloud: -image-id (IBMCLOUD_PODVM_IMAGE_ID) is not set");
  if (config.profileName.empty() && config.profileList.empty())
    return fail(Code::kInvalidArgument,
                "ibmcloud: -profile-name (IBMCLOUD_PODVM_INSTANCE_PROFILE_NAME) is not set");
  if (config.ipWaitTimeout <= 0s)
    return fail(Code::kInvalidArgument, "ibmcloud: -ip-wait-timeout must be positive");
  std::unique_ptr<IbmCloudProvider> p(new IbmCloudProvider(config, std::move(deps)));
  if (!p->deps_.tokens) {
    IamCallOptions o;
    o.http = p->deps_.http;
    o.sleep = p->deps_.sleep;
    auto t = IamTokenSource::create({.apiKey = config.apiKey,
                                     .profileId = config.iamProfileId,
                                     .crTokenFile = config.crTokenFile,
                                     .tokenUrl = config.iamServiceUrl},
                                    kLog, p->deps_.clock, o);
    if (!t) return fail(t.error());
    p->deps_.tokens = std::move(*t);
  }
  if (auto st = p->readClusterSettings(); !st) return fail(st.error());
  if (auto st = p->loadProfilesAndImages(); !st) return fail(st.error());
  const IbmCloudConfig& c = p->config_;
  log::info(
      kLog,
      "VPC {} ({}), zone {}, subnet {}, profile {}, {} image(s), cluster {}, {}, tokens from {}",
      c.vpcId, c.vpcServiceUrl, c.zoneName, c.primarySubnetId, c.profileName, p->images_.size(),
      c.clusterId, c.disableCvm ? "confidential VMs off" : "confidential compute mode tdx",
      p->deps_.tokens->describe());
  return p;
}

Status IbmCloudProvider::readClusterSettings() {
  IbmCloudConfig& c = config_;
  nodeName_ = deps_.env("NODE_NAME").value_or("");
  auto kube = [&]() -> Result<std::shared_ptr<const k8s::Client>> {
    if (!deps_.kube) {
      auto kc = k8s::defaultConfig();
      if (!kc) return fail(kc.error());
      deps_.kube = std::make_shared<k8s::Client>(std::move(*kc));
    }
    return deps_.kube;
  };
  if (c.clusterId.empty()) {
    auto k = kube();
    if (!k) {
      return fail(k.error().wrap(
          "ibmcloud: -cluster-id (IBMCLOUD_CLUSTER_ID) is not set and the Kubernetes API, to read "
          "ConfigMap kube-system/cluster-info, is not reachable"));
    }
    auto cm = (*k)->get(k8s::resources::kConfigMaps, kClusterInfoNamespace, kClusterInfoName);
    if (!cm) {
      return fail(
          cm.error().wrap("ibmcloud: -cluster-id (IBMCLOUD_CLUSTER_ID) is not set and ConfigMap "
                          "kube-system/cluster-info could not be read"));
    }
    std::string id = k8s::field(*cm, "data", "cluster_id");
    if (id.empty()) {
      return fail(Code::kFailedPrecondition,
                  "ibmcloud: -cluster-id (IBMCLOUD_CLUSTER_ID) is not set and ConfigMap "
                  "kube-system/cluster-info has no key cluster_id");
    }
    c.clusterId = id;
  }

  std::map<std::string, std::string> labels;
  if (!nodeName_.empty()) {
    auto k = kube();
    auto node = k ? (*k)->get(k8s::resources::kNodes, "", nodeName_)
                  : Result<k8s::Json>(std::unexpected(k.error()));
    if (!node) {
      log::warn(kLog, "could not read the labels of node {}: {}", nodeName_, node.error().message);
    } else if (auto l = node->find("metadata"); l != node->end() && l->is_object()) {
      if (auto ls = l->find("labels"); ls != l->end() && ls->is_object()) {
        for (const auto& [key, value] : ls->items())
          if (value.is_string()) labels[key] = value.get<std::string>();
      }
    }
  }
  // As upstream: the region label gives the VPC URL only when the URL is empty (its default
  // is not).
  if (c.vpcServiceUrl.empty()) {
    if (auto it = labels.find(kRegionLabel); it != labels.end() && !it->second.empty()) {
      bool ok = std::all_of(it->second.begin(), it->second.end(), [](char ch) {
        return std::islower(static_cast<unsigned char>(ch)) ||
               std::isdigit(static_cast<unsigned char>(ch)) || ch == '-';
      });
      if (!ok)
        return fail(Code::kInvalidArgument, "ibmcloud: node label " + std::string(kRegionLabel) +
                                                " is not a region name: \"" +
                                                it->second.substr(0, 64) + "\"");
      c.vpcServiceUrl = "https://" + it->second + ".iaas.cloud.ibm.com/v1";
      log::info(kLog, "VPC URL {} from node {}'s region label", c.vpcServiceUrl, nodeName_);
    }
  }
  if (c.vpcServiceUrl.empty()) {
    return fail(Code::kInvalidArgument,
                "ibmcloud: -vpc-service-url (IBMCLOUD_VPC_ENDPOINT) is empty and the node has no " +
                    std::string(kRegionLabel) + " label");
  }
  VpcClientOptions o;
  o.vpcUrl = c.vpcServiceUrl;
  o.taggingUrl = c.taggingServiceUrl;
  o.mutatingCallsPerSecond = c.mutatingCallsPerSecond;
  o.sleep = deps_.sleep;
  vpc_ = std::make_unique<VpcClient>(deps_.http, deps_.tokens, o);

  // An IKS worker names its subnet: fill what is not configured from it (as upstream).
  std::string subnet =
      labels.count(kIksSubnetLabel) ? labels[kIksSubnetLabel] : labels[kIksSubnetLabelOld];
  if (!subnet.empty()) {
    if (c.zoneName.empty()) c.zoneName = labels[kZoneLabel];
    auto s = vpc_->getSubnet(subnet);
    auto sg = s ? vpc_->defaultSecurityGroup(s->vpcId)
                : std::expected<std::string, IbmError>(std::unexpected(s.error()));
    if (!sg) {
      log::warn(kLog, "could not fill the VPC settings from the node's subnet {}: {}", subnet,
                sg.error().toError("VPC").message);
    } else {
      if (c.primarySubnetId.empty()) c.primarySubnetId = subnet;
      if (c.vpcId.empty()) c.vpcId = s->vpcId;
      if (c.resourceGroupId.empty()) c.resourceGroupId = s->resourceGroupId;
      if (c.primarySecurityGroupId.empty()) c.primarySecurityGroupId = *sg;
    }
  }
  for (auto [value, flag] :
       {std::pair{&c.zoneName, "-zone-name (IBMCLOUD_ZONE)"},
        std::pair{&c.vpcId, "-vpc-id (IBMCLOUD_VPC_ID)"},
        std::pair{&c.primarySubnetId, "-primary-subnet-id (IBMCLOUD_VPC_SUBNET_ID)"}}) {
    if (value->empty())
      return fail(Code::kInvalidArgument, std::string("ibmcloud: ") + flag + " is not set");
  }
  return {};
}

Status IbmCloudProvider::loadProfilesAndImages() {
  std::vector<std::string> names = config_.profileList;
  if (names.empty()) names.push_back(config_.profileName);
  for (const auto& name : names) {
    auto prof = vpc_->getProfile(name);
    if (!prof) return fail(prof.error().toError("ibmcloud: instance profile " + name));
    profiles_.push_back({prof->name, prof->vcpus, prof->memoryMiB, 0, ""});
    profileArch_[prof->name] = prof->architecture;
  }
  for (const auto& id : config_.imageIds) {
    auto img = vpc_->getImage(id);
    if (!img) {
      // As upstream: an image that cannot be used here (another region) is skipped.
      log::warn(kLog, "skipping image {}: {}", id, img.error().toError("VPC").message);
      continue;
    }
    img->id = id;
    images_.push_back(*img);
  }
  if (images_.empty())
    return fail(Code::kFailedPrecondition,
                "ibmcloud: none of the images in -image-id (IBMCLOUD_PODVM_IMAGE_ID) can be used");
  return {};
}

Result<std::string> IbmCloudProvider::imageFor(const InstanceSpec& spec,
                                               const std::string& profile) const {
  if (!spec.image.empty()) {
    // Upstream's words.
    log::info(kLog, "Choosing {} from annotation as the IBM Cloud Image for the PodVM image",
              spec.image);
    return spec.image;
  }
  std::string arch;
  if (auto it = profileArch_.find(profile); it != profileArch_.end()) arch = it->second;
  for (const auto& img : images_)
    if (arch.empty() || img.architecture == arch) return img.id;
  return fail(Code::kFailedPrecondition, "ibmcloud: no image in -image-id has architecture " +
                                             arch + " (that of profile " + profile + ")");
}

std::vector<std::string> IbmCloudProvider::tagsFor(const CreateRequest& req) const {
  std::vector<std::string> tags = {kClusterTagPrefix + config_.clusterId};
  tags.insert(tags.end(), config_.tags.begin(), config_.tags.end());
  tags.push_back(userTag(kTagSandbox, req.sandboxId));
  if (!req.podName.empty()) tags.push_back(userTag(kTagPod, req.podName));
  if (!req.podNamespace.empty()) tags.push_back(userTag(kTagNamespace, req.podNamespace));
  if (!nodeName_.empty()) tags.push_back(userTag(kTagNode, nodeName_));
  return tags;
}

Result<json> IbmCloudProvider::instancePrototype(const CreateRequest& req) {
  const IbmCloudConfig& c = config_;
  if (req.userData.size() > kMaxUserDataBytes) {
    return fail(Code::kInvalidArgument,
                "ibmcloud: user data is " + std::to_string(req.userData.size()) +
                    " bytes; the VPC API takes at most " + std::to_string(kMaxUserDataBytes));
  }
  auto profile = selectInstanceType(req.spec, c.profileName, c.profileList, profiles_);
  if (!profile) return fail(profile.error().wrap("ibmcloud"));
  auto image = imageFor(req.spec, *profile);
  if (!image) return fail(image.error());

  json primary = {{"subnet", {{"id", c.primarySubnetId}}}};
  if (!c.primarySecurityGroupId.empty())
    primary["security_groups"] = json::array({{{"id", c.primarySecurityGroupId}}});
  json keys = json::array();
  if (!c.keyId.empty()) keys.push_back({{"id", c.keyId}});
  json proto = {
      {"name", req.instanceName},
      {"image", {{"id", *image}}},
      {"profile", {{"name", *profile}}},
      {"zone", {{"name", c.zoneName}}},
      {"vpc", {{"id", c.vpcId}}},
      {"keys", keys},
      {"user_data", req.userData},
      {"primary_network_interface", primary},
      {"metadata_service", {{"enabled", true}, {"protocol", "http"}}},
      {"confidential_compute_mode", c.disableCvm ? "disabled" : "tdx"},
      {"enable_secure_boot", !c.disableCvm},
  };
  if (!c.resourceGroupId.empty()) proto["resource_group"] = {{"id", c.resourceGroupId}};
  if (!c.secondarySubnetId.empty()) {
    json nic = {{"allow_ip_spoofing", true}, {"subnet", {{"id", c.secondarySubnetId}}}};
    if (!c.secondarySecurityGroupId.empty())
      nic["security_groups"] = json::array({{{"id", c.secondarySecurityGroupId}}});
    proto["network_interfaces"] = json::array({nic});
  }
  return proto;
}

Result<Instance> IbmCloudProvider::deleteAfterFailure(const std::string& id,
                                                      const std::string& name, Error err) {
  auto st = vpc_->deleteInstance(id);
  if (st) {
    log::info(kLog, "deleted instance {} ({}) after a failed create", name, id);
  } else {
    std::string m = st.error().toError("deleting it").message;
    log::error(kLog, "instance {} ({}) left behind after a failed create: {}", name, id, m);
    err.message += "; " + m;
  }
  return fail(std::move(err));
}

Result<std::vector<std::string>> IbmCloudProvider::waitForIps(const std::string& id, size_t nics) {
  auto deadline = std::chrono::steady_clock::now() + config_.ipWaitTimeout;
  auto budget = std::chrono::duration_cast<std::chrono::milliseconds>(config_.ipWaitTimeout);
  std::chrono::milliseconds slept{0};
  for (;;) {
    auto inst = vpc_->getInstance(id);
    if (!inst) return fail(inst.error().toError("ibmcloud: reading instance " + id));
    if (inst->status == "failed")
      return fail(Code::kInternal, "ibmcloud: instance " + id + " is in status failed");
    if (inst->nicIps.size() >= nics &&
        std::all_of(inst->nicIps.begin(), inst->nicIps.end(), usableIp))
      return inst->nicIps;
    // Sleeps are counted as well as the clock, so that a test's instant sleep still ends.
    if (std::chrono::steady_clock::now() >= deadline || slept >= budget) {
      return fail(Code::kDeadlineExceeded,
                  "ibmcloud: instance " + id + "'s network interfaces got no IP address within " +
                      flags::formatDuration(config_.ipWaitTimeout) + " (-ip-wait-timeout)");
    }
    if (deps_.sleep)
      deps_.sleep(deps_.pollInterval);
    else
      std::this_thread::sleep_for(deps_.pollInterval);
    slept += deps_.pollInterval;
  }
}

Result<Instance> IbmCloudProvider::createInstance(const CreateRequest& req) {
  auto proto = instancePrototype(req);
  if (!proto) return fail(proto.error());
  const std::string& name = req.instanceName;
  int attempts = 0;
  auto created = vpc_->createInstance(*proto, &attempts);
  if (!created) {
    Error err = created.error().toError("ibmcloud: creating instance " + name);
    // A lost answer, or a retried POST (the first may have worked), may have made an instance:
    // instance names are unique in a VPC, so look it up by name.
    if (attempts > 1 || mayHaveBeenApplied(err)) {
      auto found = vpc_->listInstances("vpc.id=" + net::urlEncode(config_.vpcId) +
                                       "&name=" + net::urlEncode(name));
      if (!found) {
        err.message += "; looking it up to delete it failed: " +
                       found.error().toError("listing instances").message;
        log::error(kLog, "instance {} may be left behind: {}", name, err.message);
      } else {
        for (const auto& i : *found)
          if (i.name == name) return deleteAfterFailure(i.id, name, std::move(err));
      }
    }
    return fail(std::move(err));
  }
  const std::string id = created->id;
  log::info(kLog, "created instance {} ({}) for sandbox {}", name, id, req.sandboxId);
  size_t nics = 1 + (config_.secondarySubnetId.empty() ? 0 : 1);
  std::vector<std::string> ips = created->nicIps;
  std::string crn = created->crn;
  if (ips.size() < nics || !std::all_of(ips.begin(), ips.end(), usableIp)) {
    auto got = waitForIps(id, nics);
    if (!got) return deleteAfterFailure(id, name, got.error());
    ips = std::move(*got);
  }
  if (crn.empty()) {
    auto inst = vpc_->getInstance(id);
    if (!inst) return deleteAfterFailure(id, name, inst.error().toError("ibmcloud: reading " + id));
    crn = inst->crn;
    if (crn.empty())
      return deleteAfterFailure(id, name,
                                Error{Code::kInternal, "ibmcloud: instance " + id + " has no CRN"});
  }
  auto tagged = vpc_->attachTags(crn, tagsFor(req));
  if (!tagged)
    return deleteAfterFailure(id, name,
                              tagged.error().toError("ibmcloud: attaching tags to " + name));
  Instance out;
  out.id = id;
  out.name = name;
  out.ips = std::move(ips);
  return out;
}

Status IbmCloudProvider::deleteInstance(const std::string& id) {
  if (!plausibleId(id))
    return fail(Code::kInvalidArgument, "ibmcloud: bad instance id \"" + id.substr(0, 80) + "\"");
  auto st = vpc_->deleteInstance(id);
  if (!st) return fail(st.error().toError("ibmcloud: deleting instance " + id));
  log::info(kLog, "deleted instance {}", id);
  return {};
}

Status IbmCloudProvider::verifyConfig() {
  if (images_.empty()) return fail(Code::kFailedPrecondition, "ibmcloud: image-id is empty");
  for (const auto& img : images_) {
    auto r = vpc_->getImage(img.id);
    if (!r) return fail(r.error().toError("ibmcloud: checking image " + img.id));
  }
  if (!config_.profileName.empty()) {
    if (auto r = vpc_->getProfile(config_.profileName); !r)
      return fail(r.error().toError("ibmcloud: checking -profile-name"));
  }
  if (auto r = vpc_->getSubnet(config_.primarySubnetId); !r)
    return fail(r.error().toError("ibmcloud: checking -primary-subnet-id"));
  return {};
}

Result<std::vector<Instance>> IbmCloudProvider::listInstances(const std::string& tag) {
  auto all = vpc_->listInstances("vpc.id=" + net::urlEncode(config_.vpcId));
  if (!all) return fail(all.error().toError("ibmcloud: listing instances"));
  std::string prefix = userTag(kTagSandbox, "");
  std::string want = tag.empty() ? std::string() : userTag(kTagSandbox, tag);
  std::vector<Instance> out;
  for (const auto& i : *all) {
    if (i.crn.empty()) continue;
    auto tags = vpc_->tagsOf(i.crn);
    if (!tags) return fail(tags.error().toError("ibmcloud: reading the tags of " + i.id));
    bool match = std::any_of(tags->begin(), tags->end(), [&](const std::string& t) {
      return want.empty() ? t.rfind(prefix, 0) == 0 : t == want;
    });
    if (!match) continue;
    Instance x;
    x.id = i.id;
    x.name = i.name;
    for (const auto& ip : i.nicIps)
      if (usableIp(ip)) x.ips.push_back(ip);
    out.push_back(std::move(x));
  }
  return out;
}

}  // namespace pp::providers::ibmcloud
