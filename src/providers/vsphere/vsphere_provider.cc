// The vsphere provider (see vsphere_provider.h).
#include "providers/vsphere/vsphere_provider.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <thread>

#include "base/encoding.h"
#include "base/log.h"
#include "providers/registry.h"
#include "providers/tags.h"

namespace pp::providers::vsphere {
namespace {

using namespace std::chrono_literals;
constexpr const char* kLog = "vsphere";

std::chrono::milliseconds ms(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}

bool isIpv4(const std::string& s) {
  in_addr a{};
  return ::inet_pton(AF_INET, s.c_str(), &a) == 1;
}

std::string optionValue(const std::string& key, const std::string& value) {
  return "<extraConfig xsi:type=\"OptionValue\"><key>" + xmlEscape(key) +
         "</key><value xsi:type=\"xsd:string\">" + xmlEscape(value) + "</value></extraConfig>";
}

// "%40" -> "@" (the user info of a URL); nullopt on a malformed escape.
std::optional<std::string> percentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(s[i + 2])))
      return std::nullopt;
    out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
    i += 2;
  }
  return out;
}

}  // namespace

void registerVsphereFlags(flags::FlagSet& fs, VsphereConfig& c) {
  fs.stringVar(&c.userName, "user-name", "", "GOVC_USERNAME", "vCenter Username")
      .secret()
      .required();
  fs.stringVar(&c.password, "password", "", "GOVC_PASSWORD", "vCenter Password")
      .secret()
      .required();
  fs.stringVar(&c.thumbprint, "thumbprint", "", "GOVC_THUMBPRINT",
               "SHA1 thumbprint of the vcenter certificate (AA:BB:...): the certificate vCenter "
               "must present. Empty: the certificate is verified against the system's CAs, or "
               "not at all with -vcenter-insecure")
      .secret();
  fs.stringVar(&c.vcenterUrl, "vcenter-url", "", "GOVC_URL",
               "URL of vCenter instance to connect to (host, https://host or https://host/sdk)")
      .required();
  fs.stringVar(&c.templateName, "template", "podvm-template", "GOVC_TEMPLATE",
               "vCenter template to deploy (a path relative to <data-center>/vm)");
  fs.stringVar(&c.datacenter, "data-center", "", "GOVC_DATACENTER",
               "vCenter destination datacenter name")
      .required();
  fs.stringVar(&c.datastore, "data-store", "", "GOVC_DATASTORE", "vCenter datastore");
  fs.stringVar(&c.deployFolder, "deploy-folder", "", "GOVC_FOLDER",
               "vCenter vm destination folder relative to the vm inventory path "
               "(your-data-center/vm); missing folders are created. Example: -deploy-folder "
               "peerpods uses /datacenter/vm/peerpods");
  fs.stringVar(&c.cluster, "cluster", "", "GOVC_VCLUSTER", "vCenter destination cluster name");
  fs.stringVar(&c.drs, "drs", "false", "GOVC_DRS",
               "Use DRS for clone placement in destination Vcenter cluster (\"true\" or "
               "\"false\")");
  fs.stringVar(&c.host, "host", "", "GOVC_HOST", "vCenter host name of resource pool destination");
  // Ours.
  fs.boolVar(&c.insecure, "vcenter-insecure", false, "GOVC_INSECURE",
             "Do not verify vCenter's certificate at all when no -thumbprint is given (upstream "
             "does this silently; here it must be asked for)");
  fs.durationVar(&c.taskTimeout, "vcenter-task-timeout", 10min, "VSPHERE_TASK_TIMEOUT",
                 "How long to wait for a clone, reconfigure, power or destroy task");
  fs.durationVar(&c.ipTimeout, "vcenter-ip-timeout", 10min, "VSPHERE_IP_TIMEOUT",
                 "How long to wait for a powered-on pod VM to report its IPv4 address (VMware "
                 "tools)");
  fs.durationVar(&c.keepalive, "vcenter-keepalive", 1min, "VSPHERE_KEEPALIVE",
                 "How often to keep the vCenter session alive (CurrentTime); 0 turns it off");
}

PP_REGISTER_PROVIDER("vsphere", VsphereConfig, registerVsphereFlags, buildWith<VsphereProvider>)

Result<VcenterUrl> parseVcenterUrl(const std::string& text) {
  if (text.empty())
    return fail(Code::kInvalidArgument, "vsphere: -vcenter-url (GOVC_URL) is not set");
  std::string rest = text;
  VcenterUrl out;
  if (auto scheme = rest.find("://"); scheme != std::string::npos) {
    if (rest.substr(0, scheme) != "https")
      return fail(Code::kInvalidArgument,
                  "vsphere: -vcenter-url (GOVC_URL) must use https (the SOAP API carries the "
                  "password and the pod VMs' keys)");
    rest = rest.substr(scheme + 3);
  }
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "/sdk" : rest.substr(slash);
  if (path == "/") path = "/sdk";
  if (auto at = authority.rfind('@'); at != std::string::npos) {
    std::string info = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = info.find(':');
    auto user = percentDecode(info.substr(0, colon));
    auto password =
        percentDecode(colon == std::string::npos ? std::string() : info.substr(colon + 1));
    if (!user || !password)
      return fail(Code::kInvalidArgument,
                  "vsphere: -vcenter-url (GOVC_URL) has a malformed %-escape in its user info");
    out.user = *user;
    out.password = *password;
  }
  if (authority.empty() || authority.find_first_of(" \t\r\n?#") != std::string::npos)
    return fail(Code::kInvalidArgument, "vsphere: -vcenter-url (GOVC_URL) has no valid host");
  out.url = "https://" + authority + path;
  return out;
}

Result<std::unique_ptr<VsphereProvider>> VsphereProvider::create(const VsphereConfig& config,
                                                                 net::HttpClient http) {
  VsphereConfig c = config;
  if (c.datacenter.empty())
    return fail(Code::kInvalidArgument, "vsphere: -data-center (GOVC_DATACENTER) is not set");
  if (c.templateName.empty())
    return fail(Code::kInvalidArgument, "vsphere: -template (GOVC_TEMPLATE) is empty");
  if (c.drs != "true" && c.drs != "false" && c.drs != "TRUE" && c.drs != "FALSE" &&
      c.drs != "True" && c.drs != "False")
    return fail(Code::kInvalidArgument,
                "vsphere: -drs (GOVC_DRS) must be \"true\" or \"false\", not \"" + c.drs + "\"");
  bool drs = c.drs == "true" || c.drs == "TRUE" || c.drs == "True";
  if (drs && c.cluster.empty())
    return fail(Code::kInvalidArgument,
                "vsphere: -drs needs -cluster (GOVC_VCLUSTER): DRS places clones in a cluster");
  if (!drs && (c.host.empty() || c.datastore.empty()))
    return fail(Code::kInvalidArgument,
                "vsphere: without -drs, -host (GOVC_HOST) and -data-store (GOVC_DATASTORE) are "
                "required");
  if (c.taskTimeout <= 0ns || c.ipTimeout <= 0ns)
    return fail(Code::kInvalidArgument,
                "vsphere: -vcenter-task-timeout and -vcenter-ip-timeout must be positive");
  auto url = parseVcenterUrl(c.vcenterUrl);
  if (!url) return fail(url.error());
  if (c.userName.empty()) c.userName = url->user;
  if (c.password.empty()) c.password = url->password;
  if (c.nodeName.empty()) c.nodeName = flags::processEnv()("NODE_NAME").value_or("");
  if (c.thumbprint.empty() && c.insecure)
    log::warn(kLog, "-vcenter-insecure: vCenter's certificate is not verified");

  VimConfig vc;
  vc.url = url->url;
  vc.userName = c.userName;
  vc.password = c.password;
  vc.thumbprint = c.thumbprint;
  vc.insecure = c.insecure;
  vc.keepalive = ms(c.keepalive);
  auto vim = VimClient::create(std::move(vc), std::move(http));
  if (!vim) return fail(vim.error());
  c.drs = drs ? "true" : "false";
  return std::unique_ptr<VsphereProvider>(new VsphereProvider(std::move(c), std::move(*vim)));
}

VsphereProvider::~VsphereProvider() = default;

Status VsphereProvider::teardown() {
  return vim_->logout();
}

Result<MoRef> VsphereProvider::datacenter() {
  {
    std::lock_guard lock(mu_);
    if (!datacenter_.empty()) return datacenter_;
  }
  auto dc = vim_->findByInventoryPath(dcPath());
  if (!dc) return fail(dc.error());
  if (!*dc || (*dc)->type != "Datacenter")
    return fail(Code::kNotFound,
                "vsphere: no datacenter " + dcPath() + " (-data-center, GOVC_DATACENTER)");
  std::lock_guard lock(mu_);
  datacenter_ = **dc;
  return datacenter_;
}

Result<MoRef> VsphereProvider::templateVm(const std::string& name) {
  std::string path = dcPath() + "/vm/" + name;
  auto vm = vim_->findByInventoryPath(path);
  if (!vm) return fail(vm.error());
  if (!*vm || (*vm)->type != "VirtualMachine")
    return fail(Code::kNotFound, "vsphere: no VM template " + path + " (-template, GOVC_TEMPLATE)");
  auto props = vim_->retrieveOne(**vm, {"config.template"});
  if (!props) return fail(props.error());
  if (props->text("config.template") != "true")
    return fail(Code::kFailedPrecondition,
                "vsphere: " + path + " is a VM, not a template (-template, GOVC_TEMPLATE)");
  return **vm;
}

Result<MoRef> VsphereProvider::deployFolder(bool create) {
  std::string path = dcPath() + "/vm";
  auto root = vim_->findByInventoryPath(path);
  if (!root) return fail(root.error());
  if (!*root) return fail(Code::kNotFound, "vsphere: no VM folder " + path);
  MoRef folder = **root;
  size_t start = 0;
  const std::string& rel = config_.deployFolder;
  while (start < rel.size()) {
    size_t end = rel.find('/', start);
    std::string seg = rel.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? rel.size() : end + 1;
    if (seg.empty()) continue;
    path += "/" + seg;
    auto found = vim_->findChild(folder, seg);
    if (!found) return fail(found.error());
    if (*found) {
      folder = **found;
      continue;
    }
    if (!create) return fail(Code::kNotFound, "vsphere: no folder " + path);
    auto made = vim_->call("CreateFolder", folder, "<name>" + xmlEscape(seg) + "</name>", true);
    if (!made && made.error().code == Code::kAlreadyExists) {
      // Another create made it meanwhile.
      auto again = vim_->findChild(folder, seg);
      if (!again) return fail(again.error());
      if (!*again) return fail(made.error());
      folder = **again;
      continue;
    }
    if (!made) return fail(made.error());
    log::info(kLog, "created folder {}", path);
    folder = moRefOf(made->child("returnval"));
  }
  return folder;
}

Result<VsphereProvider::Placement> VsphereProvider::placement(const MoRef& templ,
                                                              const MoRef& folder,
                                                              const std::string& name) {
  Placement p;
  if (config_.drs == "true") {
    std::string path = dcPath() + "/host/" + config_.cluster;
    auto cluster = vim_->findByInventoryPath(path);
    if (!cluster) return fail(cluster.error());
    if (!*cluster || (*cluster)->type != "ClusterComputeResource")
      return fail(Code::kNotFound, "vsphere: no cluster " + path + " (-cluster, GOVC_VCLUSTER)");
    std::string spec = "<placementSpec>" + moRefXml("vm", templ) + "<relocateSpec>" +
                       moRefXml("folder", folder) +
                       "</relocateSpec><placementType>clone</placementType><cloneSpec>"
                       "<location>" +
                       moRefXml("folder", folder) +
                       "</location><template>false</template><powerOn>false</powerOn>"
                       "</cloneSpec><cloneName>" +
                       xmlEscape(name) + "</cloneName></placementSpec>";
    auto r = vim_->call("PlaceVm", **cluster, spec, false);
    if (!r) return fail(r.error());
    const SoapNode* rv = r->child("returnval");
    const SoapNode* rec = rv ? rv->child("recommendations") : nullptr;
    const SoapNode* action = rec ? rec->child("action") : nullptr;
    const SoapNode* rs = action ? action->child("relocateSpec") : nullptr;
    if (rs == nullptr)
      return fail(Code::kResourceExhausted,
                  "vsphere: DRS has no placement recommendation in cluster " + config_.cluster);
    p.datastore = moRefOf(rs->child("datastore"));
    p.host = moRefOf(rs->child("host"));
    p.pool = moRefOf(rs->child("pool"));
    if (p.pool.empty())
      return fail(Code::kInternal, "vsphere: the DRS recommendation names no resource pool");
    return p;
  }
  std::string path =
      dcPath() + "/host/" + (config_.cluster.empty() ? "" : config_.cluster + "/") + config_.host;
  auto host = vim_->findByInventoryPath(path);
  if (!host) return fail(host.error());
  if (!*host) return fail(Code::kNotFound, "vsphere: no host " + path + " (-host, GOVC_HOST)");
  MoRef hostRef = **host;
  if (hostRef.type == "ComputeResource") {
    // A standalone host's inventory path names its compute resource; take its host.
    auto cr = vim_->retrieveOne(hostRef, {"host"});
    if (!cr) return fail(cr.error());
    const SoapNode* hosts = cr->prop("host");
    hostRef = hosts ? moRefOf(hosts->child("ManagedObjectReference")) : MoRef{};
  }
  if (hostRef.type != "HostSystem")
    return fail(Code::kNotFound, "vsphere: " + path + " is not a host (-host, GOVC_HOST)");
  auto parent = vim_->retrieveOne(hostRef, {"parent"});
  if (!parent) return fail(parent.error());
  auto pool = vim_->retrieveOne(moRefOf(parent->prop("parent")), {"resourcePool"});
  if (!pool) return fail(pool.error());
  p.pool = moRefOf(pool->prop("resourcePool"));
  if (p.pool.empty())
    return fail(Code::kNotFound, "vsphere: host " + path + " has no resource pool");
  p.host = hostRef;
  std::string dsPath = dcPath() + "/datastore/" + config_.datastore;
  auto ds = vim_->findByInventoryPath(dsPath);
  if (!ds) return fail(ds.error());
  if (!*ds || (*ds)->type != "Datastore")
    return fail(Code::kNotFound,
                "vsphere: no datastore " + dsPath + " (-data-store, GOVC_DATASTORE)");
  p.datastore = **ds;
  return p;
}

std::string VsphereProvider::tagOptions(const CreateRequest& r) const {
  std::string out = optionValue(kTagSandbox, r.sandboxId) + optionValue(kTagPod, r.podName) +
                    optionValue(kTagNamespace, r.podNamespace);
  if (!config_.nodeName.empty()) out += optionValue(kTagNode, config_.nodeName);
  return out;
}

Result<MoRef> VsphereProvider::clone(const MoRef& templ, const MoRef& folder,
                                     const std::string& name, const Placement& where,
                                     const CreateRequest& request) {
  std::string location = "<location>";
  if (!where.datastore.empty()) location += moRefXml("datastore", where.datastore);
  location += moRefXml("pool", where.pool);
  if (!where.host.empty()) location += moRefXml("host", where.host);
  location += "</location>";
  // The tags come with the clone itself: there is no moment when the VM exists untagged.
  std::string config =
      "<config>" + optionValue(kUserDataKey, encoding::base64Encode(request.userData)) +
      optionValue(kUserDataEncodingKey, "base64") + tagOptions(request) + "</config>";
  // Powered on later, after the sizing reconfiguration.
  std::string args = moRefXml("folder", folder) + "<name>" + xmlEscape(name) + "</name><spec>" +
                     location + "<template>false</template>" + config +
                     "<powerOn>false</powerOn></spec>";
  auto task = vim_->call("CloneVM_Task", templ, args, true);
  if (!task) return fail(task.error());
  auto info =
      vim_->waitForTask(moRefOf(task->child("returnval")), ms(config_.taskTimeout), "CloneVM_Task");
  if (!info) return fail(info.error());
  MoRef vm = moRefOf(info->child("result"));
  if (vm.empty()) return fail(Code::kInternal, "vsphere: CloneVM_Task returned no VM");
  if (vm.type.empty()) vm.type = "VirtualMachine";
  return vm;
}

Result<std::string> VsphereProvider::waitForIpv4(const MoRef& vm) {
  auto deadline = std::chrono::steady_clock::now() + config_.ipTimeout;
  auto pause = 200ms;
  for (;;) {
    auto props = vim_->retrieveOne(vm, {"guest.ipAddress", "guest.net"});
    if (!props) return fail(props.error());
    std::string ip = props->text("guest.ipAddress");
    if (isIpv4(ip)) return ip;
    if (const SoapNode* nets = props->prop("guest.net")) {
      for (const SoapNode* nic : nets->all("GuestNicInfo"))
        for (const SoapNode* a : nic->all("ipAddress"))
          if (isIpv4(a->text)) return a->text;
    }
    if (std::chrono::steady_clock::now() + pause > deadline)
      return fail(Code::kDeadlineExceeded,
                  "vsphere: the VM reported no IPv4 address within " +
                      std::to_string(ms(config_.ipTimeout).count() / 1000) +
                      " s (-vcenter-ip-timeout; are VMware tools running in the pod VM image?)");
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::milliseconds>(pause * 2, 2s);
  }
}

Status VsphereProvider::destroy(const MoRef& vm) {
  auto state = vim_->retrieveOne(vm, {"runtime.powerState"});
  if (!state) return state.error().code == Code::kNotFound ? Status{} : fail(state.error());
  if (state->text("runtime.powerState") != "poweredOff") {
    auto off = vim_->call("PowerOffVM_Task", vm, "", true);
    if (off) {
      auto done = vim_->waitForTask(moRefOf(off->child("returnval")), ms(config_.taskTimeout),
                                    "PowerOffVM_Task");
      if (!done && faultTypeOf(done.error()) != "InvalidPowerState") return fail(done.error());
    } else if (faultTypeOf(off.error()) != "InvalidPowerState") {
      if (off.error().code == Code::kNotFound) return {};
      return fail(off.error());
    }
  }
  auto task = vim_->call("Destroy_Task", vm, "", true);
  if (!task) return task.error().code == Code::kNotFound ? Status{} : fail(task.error());
  auto done =
      vim_->waitForTask(moRefOf(task->child("returnval")), ms(config_.taskTimeout), "Destroy_Task");
  if (!done && done.error().code != Code::kNotFound) return fail(done.error());
  return {};
}

Result<Instance> VsphereProvider::createInstance(const CreateRequest& request) {
  const std::string& name = request.instanceName;
  if (request.spec.gpus > 0)
    log::warn(kLog, "{}: GPUs were asked for; vsphere clones the template as it is", name);
  auto dc = datacenter();
  if (!dc) return fail(dc.error());
  auto templ = templateVm(request.spec.image.empty() ? config_.templateName : request.spec.image);
  if (!templ) return fail(templ.error());
  auto folder = deployFolder(true);
  if (!folder) return fail(folder.error());
  auto where = placement(*templ, *folder, name);
  if (!where) return fail(where.error());

  log::info(kLog, "{}: cloning {}", name,
            request.spec.image.empty() ? config_.templateName : request.spec.image);
  auto vm = clone(*templ, *folder, name, *where, request);
  if (!vm) {
    if (mayHaveBeenApplied(vm.error())) {
      // The clone may exist (a task past its deadline, a lost answer): find it by name.
      auto found = vim_->findChild(*folder, name);
      if (found && *found) {
        log::warn(kLog, "{}: deleting the clone of a failed create", name);
        if (auto st = destroy(**found); !st)
          log::error(kLog, "{}: could not delete {}: {}", name, (*found)->value,
                     st.error().message);
      }
    }
    return fail(vm.error());
  }
  auto cleanup = [&](Error e) -> Result<Instance> {
    log::warn(kLog, "{}: create failed after the clone existed ({}); deleting it", name, e.message);
    if (auto st = destroy(*vm); !st)
      log::error(kLog, "{}: could not delete {}: {}", name, vm->value, st.error().message);
    return fail(std::move(e));
  };

  if (request.spec.vcpus > 0 || request.spec.memoryMiB > 0) {
    std::string spec = "<spec>";
    if (request.spec.vcpus > 0)
      spec += "<numCPUs>" + std::to_string(request.spec.vcpus) + "</numCPUs>";
    if (request.spec.memoryMiB > 0)
      spec += "<memoryMB>" + std::to_string(request.spec.memoryMiB) + "</memoryMB>";
    spec += "</spec>";
    auto task = vim_->call("ReconfigVM_Task", *vm, spec, true);
    if (!task) return cleanup(task.error());
    auto done = vim_->waitForTask(moRefOf(task->child("returnval")), ms(config_.taskTimeout),
                                  "ReconfigVM_Task");
    if (!done) return cleanup(done.error());
  }
  auto on = vim_->call("PowerOnVM_Task", *vm, "", true);
  if (!on) return cleanup(on.error());
  auto started =
      vim_->waitForTask(moRefOf(on->child("returnval")), ms(config_.taskTimeout), "PowerOnVM_Task");
  if (!started) return cleanup(started.error());
  auto uuid = vim_->retrieveOne(*vm, {"config.uuid"});
  if (!uuid) return cleanup(uuid.error());
  std::string id = uuid->text("config.uuid");
  if (id.empty()) return cleanup(Error{Code::kInternal, "vsphere: the clone has no BIOS UUID"});
  auto ip = waitForIpv4(*vm);
  if (!ip) return cleanup(ip.error());
  log::info(kLog, "{}: created VM {} (uuid {}) at {}", name, vm->value, id, *ip);
  return Instance{id, name, {*ip}};
}

Status VsphereProvider::deleteInstance(const std::string& id) {
  auto dc = datacenter();
  if (!dc) return fail(dc.error());
  auto vm = vim_->findVmByUuid(*dc, id);
  if (!vm) return fail(vm.error());
  if (!*vm) {
    log::info(kLog, "VM {} is already gone", id);
    return {};
  }
  if (auto st = destroy(**vm); !st) return st;
  log::info(kLog, "deleted VM {} (uuid {})", (*vm)->value, id);
  return {};
}

Status VsphereProvider::verifyConfig() {
  // The first call logs in: wrong credentials fail here.
  auto dc = datacenter();
  if (!dc) return fail(dc.error());
  auto templ = templateVm(config_.templateName);
  if (!templ) return fail(templ.error());
  return {};
}

Result<std::vector<Instance>> VsphereProvider::listInstances(const std::string& tag) {
  auto dc = datacenter();
  if (!dc) return fail(dc.error());
  auto folder = deployFolder(false);
  if (!folder) {
    if (folder.error().code == Code::kNotFound) return std::vector<Instance>();
    return fail(folder.error());
  }
  auto vms = vim_->retrieveBelow(*folder, "VirtualMachine",
                                 {"name", "config.extraConfig", "config.uuid", "guest.ipAddress"});
  if (!vms) return fail(vms.error());
  std::vector<Instance> out;
  for (const auto& vm : *vms) {
    std::optional<std::string> sandbox;
    if (const SoapNode* extra = vm.prop("config.extraConfig"))
      for (const SoapNode* o : extra->all("OptionValue"))
        if (o->childText("key") == kTagSandbox) sandbox = o->childText("value");
    if (!sandbox || (!tag.empty() && *sandbox != tag)) continue;
    Instance i{vm.text("config.uuid"), vm.text("name"), {}};
    if (std::string ip = vm.text("guest.ipAddress"); !ip.empty()) i.ips.push_back(ip);
    out.push_back(std::move(i));
  }
  return out;
}

}  // namespace pp::providers::vsphere
