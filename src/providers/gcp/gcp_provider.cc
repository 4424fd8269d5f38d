// The gcp provider (see gcp_provider.h).
#include "providers/gcp/gcp_provider.h"

#include <algorithm>

#include "base/encoding.h"
#include "base/log.h"
#include "providers/registry.h"

namespace pp::providers::gcp {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
constexpr const char* kLog = "gcp";

bool hasAnyPrefix(const std::string& s, std::initializer_list<const char*> prefixes) {
  for (const char* p : prefixes)
    if (s.rfind(p, 0) == 0) return true;
  return false;
}

// "e2-medium" -> "e2-"; "n2d-standard-2" -> "n2d-"; "" when there is no dash.
std::string seriesOf(const std::string& machineType) {
  auto dash = machineType.find('-');
  return dash == std::string::npos ? std::string() : machineType.substr(0, dash + 1);
}

// Splits an image reference into project and image (or "family/<f>"), as upstream accepts
// them: "projects/P/global/images/I", "/projects/...", a full https URL, or a bare name in the
// configured project.
std::pair<std::string, std::string> splitImage(const std::string& image,
                                               const std::string& project) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= image.size()) {
    size_t slash = image.find('/', start);
    parts.push_back(
        image.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i] == "projects" && i + 3 < parts.size() && parts[i + 2] == "global" &&
        parts[i + 3] == "images" && i + 4 < parts.size()) {
      std::string rest = parts[i + 4];
      if (rest == "family" && i + 5 < parts.size()) rest = "family/" + parts[i + 5];
      return {parts[i + 1], rest};
    }
  }
  return {project, parts.back()};
}

}  // namespace

std::string labelValue(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (out.size() == 63) break;
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isupper(u)) c = static_cast<char>(std::tolower(u));
    out.push_back(std::islower(static_cast<unsigned char>(c)) ||
                          std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '_'
                      ? c
                      : '-');
  }
  return out;
}

void registerGcpFlags(flags::FlagSet& fs, GcpConfig& c) {
  fs.stringVar(&c.credentials, "gcp-credentials", "", "GCP_CREDENTIALS",
               "Google Application Credentials: a service account key (JSON text, or a path to "
               "the key file); empty uses GOOGLE_APPLICATION_CREDENTIALS, then the metadata server")
      .secret();
  fs.stringVar(&c.projectId, "gcp-project-id", "", "GCP_PROJECT_ID", "GCP Project ID").required();
  fs.stringVar(&c.zone, "zone", "", "GCP_ZONE", "Zone").required();
  fs.stringVar(&c.imageName, "image-name", "", "PODVM_IMAGE_NAME", "Pod VM image name");
  fs.stringVar(&c.machineType, "machine-type", "e2-medium", "GCP_MACHINE_TYPE",
               "Pod VM instance type");
  fs.stringVar(&c.network, "network", "", "GCP_NETWORK", "Network ID to be used for the Pod VMs")
      .required();
  fs.stringVar(
      &c.subnetwork, "subnetwork", "", "GCP_SUBNETWORK",
      "Subnetwork ID to be used for the Pod VMs (required for custom subnet mode networks)");
  fs.stringVar(&c.diskType, "disk-type", "pd-standard", "GCP_DISK_TYPE",
               "Any GCP disk type (pd-standard, pd-ssd, pd-balanced or pd-extreme)");
  fs.boolVar(&c.disableCvm, "disable-cvm", false, "DISABLECVM", "Use non-CVMs for peer pods");
  fs.stringVar(&c.confidentialType, "confidential-type", "", "GCP_CONFIDENTIAL_TYPE",
               "Used when DisableCVM=false. i.e: TDX, SEV or SEV_SNP. Check if the machine type "
               "is compatible.");
  fs.intVar(&c.rootVolumeSize, "root-volume-size", 10, "ROOT_VOLUME_SIZE",
            "Root volume size (in GiB) for the Pod VMs");
  fs.boolVar(&c.usePublicIp, "use-public-ip", false, "USE_PUBLIC_IP",
             "Use Public IP for connecting to the kata-agent inside the Pod VM");
  fs.keyValueVar(&c.tags, "tags", {}, "TAGS",
                 "List of tags to be added to the Pod VMs. Tags must already exist in the GCP "
                 "project. Format: key1=value1,key2=value2");
  // Upstream's variable; GCP_MACHINE_TYPES is what our earlier releases read, kept so that
  // their manifests still work.
  fs.stringListVar(&c.machineTypes, "machine-types", {}, "GCP_INSTANCE_TYPES",
                   "Machine types the sizing annotations may choose from, comma separated (empty: "
                   "the zone's types of the same series as -machine-type)")
      .alsoEnv("GCP_MACHINE_TYPES");
  // Ours.
  fs.boolVar(&c.externalNat, "gcp-external-nat", true, "GCP_EXTERNAL_NAT",
             "Give pod VMs an external NAT address (as upstream always does); turn off when Cloud "
             "NAT or Private Google Access provides egress. -use-public-ip needs it");
  fs.stringVar(&c.computeEndpoint, "gcp-compute-endpoint", kDefaultComputeEndpoint,
               "GCP_COMPUTE_ENDPOINT",
               "Compute Engine API base URL, up to /compute/v1 (Private Service Connect, tests)");
  fs.stringVar(&c.tokenEndpoint, "gcp-token-endpoint", "", "GCP_TOKEN_ENDPOINT",
               "OAuth2 token URL to use instead of the service account key's token_uri (or, "
               "without a key, of the metadata server's token URL)");
  fs.stringVar(&c.resourceManagerEndpoint, "gcp-resource-manager-endpoint",
               kDefaultResourceManagerEndpoint, "GCP_RESOURCE_MANAGER_ENDPOINT",
               "Cloud Resource Manager v3 base URL, used to look up -tags");
  fs.floatVar(&c.mutatingCallsPerSecond, "gcp-api-rate", 2, "GCP_API_RATE",
              "Most instances.insert/delete calls per second (client-side token bucket; 0: "
              "unlimited)");
  fs.durationVar(&c.operationTimeout, "gcp-operation-timeout", 5min, "GCP_OPERATION_TIMEOUT",
                 "How long to wait for an instance insert or delete operation to finish");
}

PP_REGISTER_PROVIDER("gcp", GcpConfig, registerGcpFlags, buildWith<GcpProvider>)

Result<std::unique_ptr<GcpProvider>> GcpProvider::create(const GcpConfig& config,
                                                         GcpDependencies deps) {
  if (!deps.env) deps.env = flags::processEnv();
  if (!deps.clock) deps.clock = systemClock();
  if (config.projectId.empty())
    return fail(Code::kInvalidArgument, "gcp: -gcp-project-id (GCP_PROJECT_ID) is not set");
  if (config.zone.empty()) return fail(Code::kInvalidArgument, "gcp: -zone (GCP_ZONE) is not set");
  if (config.rootVolumeSize < 0)
    return fail(Code::kInvalidArgument, "gcp: -root-volume-size must not be negative");
  if (!config.confidentialType.empty() && config.confidentialType != "SEV" &&
      config.confidentialType != "SEV_SNP" && config.confidentialType != "TDX") {
    return fail(Code::kInvalidArgument,
                "gcp: -confidential-type must be SEV, SEV_SNP or TDX, not \"" +
                    config.confidentialType + "\"");
  }
  if (config.usePublicIp && !config.externalNat)
    return fail(Code::kInvalidArgument, "gcp: -use-public-ip needs -gcp-external-nat");
  std::unique_ptr<GcpProvider> p(new GcpProvider(config, std::move(deps)));
  GcpConfig& c = p->config_;
  if (c.nodeName.empty()) c.nodeName = p->deps_.env("NODE_NAME").value_or("");
  if (!p->deps_.tokens) {
    TokenSourceInputs in;
    in.credentialsJson = c.credentials;
    in.tokenEndpoint = c.tokenEndpoint;
    in.env = p->deps_.env;
    in.http = p->deps_.http;
    in.clock = p->deps_.clock;
    if (!c.tags.empty()) in.scope = std::string(kComputeScope) + " " + kReadOnlyScope;
    auto t = makeTokenSource(in);
    if (!t) return fail(t.error().wrap("gcp"));
    p->deps_.tokens = *t;
  }
  ComputeClientOptions o;
  o.endpoint = c.computeEndpoint;
  o.project = c.projectId;
  o.zone = c.zone;
  o.mutatingCallsPerSecond = c.mutatingCallsPerSecond;
  o.sleep = p->deps_.sleep;
  o.operationTimeout = std::chrono::duration_cast<std::chrono::milliseconds>(c.operationTimeout);
  p->compute_ = std::make_unique<ComputeClient>(p->deps_.http, p->deps_.tokens, o);
  log::info(kLog, "project {}, zone {}, machine type {}, endpoint {}, {}", c.projectId, c.zone,
            c.machineType, c.computeEndpoint,
            c.disableCvm
                ? std::string("confidential VMs off")
                : "confidential type " +
                      (c.confidentialType.empty() ? std::string("(unset)") : c.confidentialType));
  return p;
}

Result<std::string> GcpProvider::machineTypeFor(const InstanceSpec& spec) {
  bool sizing =
      spec.instanceType.empty() && (spec.gpus > 0 || (spec.vcpus > 0 && spec.memoryMiB > 0));
  std::lock_guard lock(lookupMu_);
  if (sizing && !typesLoaded_) {
    auto table = compute_->listMachineTypes(config_.machineTypes);
    if (!table) return fail(table.error().wrap("gcp: loading machine types"));
    if (config_.machineTypes.empty()) {
      std::string series = seriesOf(config_.machineType);
      std::erase_if(*table, [&](const InstanceTypeInfo& t) {
        return t.name != config_.machineType && (series.empty() || t.name.rfind(series, 0) != 0);
      });
      for (const auto& t : *table) allowedTypes_.push_back(t.name);
    } else {
      allowedTypes_ = config_.machineTypes;
    }
    typeTable_ = std::move(*table);
    typesLoaded_ = true;
    log::info(kLog, "{} machine types to size pod VMs from", typeTable_.size());
  }
  const auto& allowed = typesLoaded_ ? allowedTypes_ : config_.machineTypes;
  return selectInstanceType(spec, config_.machineType, allowed, typeTable_);
}

Result<std::string> GcpProvider::sourceImage(const InstanceSpec& spec) const {
  if (!spec.image.empty()) {  // the annotation is used verbatim, as upstream
    // Upstream's words; its e2e suite greps "Choosing <image>".
    log::info(kLog, "Choosing {} from annotation as the GCP image for the PodVM image", spec.image);
    return spec.image;
  }
  if (config_.imageName.empty())
    return fail(Code::kInvalidArgument, "gcp: no pod VM image: set -image-name (PODVM_IMAGE_NAME)");
  if (hasAnyPrefix(config_.imageName, {"projects/", "/projects", "https"}))
    return config_.imageName;
  return "projects/" + config_.projectId + "/global/images/" + config_.imageName;
}

Result<int64_t> GcpProvider::diskSizeGb(const std::string& image) {
  std::lock_guard lock(lookupMu_);
  if (auto it = imageSizes_.find(image); it != imageSizes_.end()) return it->second;
  auto [project, name] = splitImage(image, config_.projectId);
  auto size = compute_->imageDiskSizeGb(project, name);
  if (!size) return fail(size.error());
  int64_t gb = std::max(*size, config_.rootVolumeSize);
  imageSizes_[image] = gb;
  return gb;
}

Result<std::map<std::string, std::string>> GcpProvider::resourceManagerTags() {
  std::lock_guard lock(lookupMu_);
  if (tagsLoaded_) return tagIds_;
  std::map<std::string, std::string> ids;
  std::string base = config_.resourceManagerEndpoint;
  while (!base.empty() && base.back() == '/') base.pop_back();
  for (const auto& [key, value] : config_.tags) {
    std::string nsName = config_.projectId + "/" + key + "/" + value;
    auto r = compute_->call("GET", base + "/tagValues/namespaced?name=" + net::urlEncode(nsName),
                            nullptr, false);
    if (!r) {
      // Resource Manager answers PERMISSION_DENIED for a value that does not exist.
      return fail(r.error()
                      .toError("gcp: tag " + key + "=" + value + " (" + nsName +
                               ") not found or not readable; tags must exist in the project")
                      .wrap("gcp"));
    }
    auto name = r->value("name", json()), parent = r->value("parent", json());
    if (!name.is_string() || !parent.is_string() ||
        name.get<std::string>().rfind("tagValues/", 0) != 0 ||
        parent.get<std::string>().rfind("tagKeys/", 0) != 0) {
      return fail(Code::kInternal, "gcp: tag " + key + "=" + value +
                                       ": answer without tagValues/ name or tagKeys/ parent");
    }
    ids[parent.get<std::string>()] = name.get<std::string>();
  }
  tagIds_ = ids;
  tagsLoaded_ = true;
  return ids;
}

std::string GcpProvider::subnetworkPath() const {
  const std::string& s = config_.subnetwork;
  if (s.empty() || hasAnyPrefix(s, {"projects/", "/projects", "regions/", "https"})) return s;
  auto dash = config_.zone.rfind('-');
  if (dash == std::string::npos) return s;
  return "projects/" + config_.projectId + "/regions/" + config_.zone.substr(0, dash) +
         "/subnetworks/" + s;
}

Result<json> GcpProvider::instanceBody(const CreateRequest& req) {
  const GcpConfig& c = config_;
  if (!c.disableCvm && c.confidentialType.empty()) {
    return fail(Code::kInvalidArgument,
                "gcp: confidential VMs are on (-disable-cvm=false) but -confidential-type "
                "(GCP_CONFIDENTIAL_TYPE) is not set: set it to SEV, SEV_SNP or TDX, or set "
                "DISABLECVM=true");
  }
  if (req.userData.size() > kMaxUserDataBytes) {
    return fail(Code::kInvalidArgument, "gcp: user data is " + std::to_string(req.userData.size()) +
                                            " bytes; instance metadata takes at most " +
                                            std::to_string(kMaxUserDataBytes) + " (before base64)");
  }
  auto type = machineTypeFor(req.spec);
  if (!type) return fail(type.error().wrap("gcp"));
  auto image = sourceImage(req.spec);
  if (!image) return fail(image.error());
  auto disk = diskSizeGb(*image);
  if (!disk) return fail(disk.error());

  json nic = json::object();
  if (!c.network.empty()) {
    nic["network"] = hasAnyPrefix(c.network, {"projects/", "/projects", "global/", "https"})
                         ? c.network
                         : "projects/" + c.projectId + "/global/networks/" + c.network;
  }
  if (auto sub = subnetworkPath(); !sub.empty()) nic["subnetwork"] = sub;
  if (c.externalNat) {
    nic["accessConfigs"] = json::array(
        {{{"name", "External NAT"}, {"type", "ONE_TO_ONE_NAT"}, {"networkTier", "STANDARD"}}});
  }
  nic["stackType"] = "IPV4_ONLY";

  json labels = {{kLabelSandbox, labelValue(req.sandboxId)}};
  if (!req.podName.empty()) labels[kLabelPod] = labelValue(req.podName);
  if (!req.podNamespace.empty()) labels[kLabelNamespace] = labelValue(req.podNamespace);
  if (!c.nodeName.empty()) labels[kLabelNode] = labelValue(c.nodeName);

  json body = {
      {"name", req.instanceName},
      {"machineType", "zones/" + c.zone + "/machineTypes/" + *type},
      {"disks", json::array({{{"boot", true},
                              {"autoDelete", true},
                              {"type", "PERSISTENT"},
                              {"initializeParams",
                               {{"sourceImage", *image},
                                {"diskSizeGb", std::to_string(*disk)},
                                {"diskType", "zones/" + c.zone + "/diskTypes/" + c.diskType}}}}})},
      {"metadata",
       {{"items",
         json::array({{{"key", "user-data"}, {"value", encoding::base64Encode(req.userData)}},
                      {{"key", "user-data-encoding"}, {"value", "base64"}}})}}},
      {"networkInterfaces", json::array({nic})},
      {"labels", labels},
  };
  bool terminateOnMaintenance = req.spec.gpus > 0;
  if (!c.disableCvm) {
    body["confidentialInstanceConfig"] = {{"confidentialInstanceType", c.confidentialType},
                                          {"enableConfidentialCompute", true}};
    terminateOnMaintenance = true;
  }
  if (terminateOnMaintenance) body["scheduling"] = {{"onHostMaintenance", "TERMINATE"}};
  if (!c.tags.empty()) {
    auto tags = resourceManagerTags();
    if (!tags) return fail(tags.error());
    body["params"] = {{"resourceManagerTags", *tags}};
  }
  return body;
}

Result<Instance> GcpProvider::createInstance(const CreateRequest& req) {
  auto body = instanceBody(req);
  if (!body) return fail(body.error());
  const std::string& name = req.instanceName;
  auto cleanup = [&](Error err) -> Result<Instance> {
    auto st = compute_->deleteInstance(name);
    if (st) {
      log::info(kLog, "deleted instance {} after a failed create", name);
    } else {
      log::error(kLog, "deleting instance {} after a failed create: {}", name, st.error().message);
      err.message += "; deleting it failed too: " + st.error().message;
    }
    return fail(std::move(err));
  };
  auto op = compute_->startInsert(*body);
  // A refused insert made nothing; a lost answer may have made the instance.
  if (!op) return mayHaveBeenApplied(op.error()) ? cleanup(op.error()) : fail(op.error());
  if (auto st = compute_->waitOperation(*op, "gcp: creating instance " + name); !st) {
    // The insert was accepted: a failed operation may have left a half-created instance, but an
    // instance of this name that existed before is not ours to delete.
    if (st.error().code == Code::kAlreadyExists) return fail(st.error());
    return cleanup(st.error());
  }
  log::info(kLog, "created instance {} for sandbox {}", name, req.sandboxId);
  auto inst = compute_->getInstance(name);
  if (!inst) return cleanup(inst.error());
  Instance out;
  out.id = name;
  out.name = name;
  out.ips = config_.usePublicIp ? inst->natIps : inst->internalIps;
  if (out.ips.empty()) {
    return cleanup(Error{Code::kInternal, "gcp: instance " + name + " has no " +
                                              (config_.usePublicIp ? "external NAT" : "internal") +
                                              " IP address"});
  }
  return out;
}

Status GcpProvider::deleteInstance(const std::string& id) {
  if (id.empty() || id.size() > 63)
    return fail(Code::kInvalidArgument, "gcp: bad instance name \"" + id + "\"");
  auto st = compute_->deleteInstance(id);
  if (st) log::info(kLog, "deleted instance {}", id);
  return st;
}

Status GcpProvider::verifyConfig() {
  if (!config_.disableCvm && config_.confidentialType.empty())
    return fail(
        Code::kInvalidArgument,
        "gcp: -confidential-type (GCP_CONFIDENTIAL_TYPE) is required unless DISABLECVM=true");
  auto image = sourceImage({});
  if (!image) return fail(image.error());
  if (auto d = diskSizeGb(*image); !d)
    return fail(d.error().wrap("gcp: checking the pod VM image"));
  if (auto t = compute_->listMachineTypes({config_.machineType}); !t)
    return fail(t.error().wrap("gcp: checking -machine-type"));
  if (!config_.tags.empty()) {
    if (auto t = resourceManagerTags(); !t) return fail(t.error());
  }
  return {};
}

Result<std::vector<Instance>> GcpProvider::listInstances(const std::string& tag) {
  std::string filter = tag.empty() ? std::string("labels.") + kLabelSandbox + ":*"
                                   : std::string("labels.") + kLabelSandbox + "=" + labelValue(tag);
  auto r = compute_->listInstances(filter);
  if (!r) return fail(r.error());
  std::vector<Instance> out;
  for (const auto& i : *r) {
    Instance x;
    x.id = i.name;
    x.name = i.name;
    x.ips = config_.usePublicIp ? i.natIps : i.internalIps;
    out.push_back(std::move(x));
  }
  return out;
}

}  // namespace pp::providers::gcp
