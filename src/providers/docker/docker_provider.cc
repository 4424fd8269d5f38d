#include "providers/docker/docker_provider.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "base/files.h"
#include "base/flags.h"
#include "base/log.h"
#include "providers/cloud_api.h"
#include "providers/registry.h"

namespace pp::providers::docker {
namespace {

// What the pod VM image needs on top of Docker's default capabilities: NET_ADMIN for the pod
// network (VXLAN, addresses, routes, NOTRACK rules), SYS_ADMIN for `ip netns add` (a bind
// mount) and for entering the pod network namespace. Docker's default seccomp profile stays;
// AppArmor's docker-default profile forbids every mount, so it is off for these containers.
// scripts/e2e docker runs the whole pod flow with exactly this.
const std::vector<std::string> kPodVmCapabilities = {"NET_ADMIN", "SYS_ADMIN"};

// Capabilities missing from our bounding set (dockerd inherits it). A privileged container asks
// runc for every capability, which fails with EPERM where some are withheld (some sandboxes
// withhold CAP_SYS_RESOURCE); then -docker-privileged asks for all that exist instead.
std::vector<std::string> missingCapabilities() {
  static const char* names[] = {"CHOWN",
                                "DAC_OVERRIDE",
                                "DAC_READ_SEARCH",
                                "FOWNER",
                                "FSETID",
                                "KILL",
                                "SETGID",
                                "SETUID",
                                "SETPCAP",
                                "LINUX_IMMUTABLE",
                                "NET_BIND_SERVICE",
                                "NET_BROADCAST",
                                "NET_ADMIN",
                                "NET_RAW",
                                "IPC_LOCK",
                                "IPC_OWNER",
                                "SYS_MODULE",
                                "SYS_RAWIO",
                                "SYS_CHROOT",
                                "SYS_PTRACE",
                                "SYS_PACCT",
                                "SYS_ADMIN",
                                "SYS_BOOT",
                                "SYS_NICE",
                                "SYS_RESOURCE",
                                "SYS_TIME",
                                "SYS_TTY_CONFIG",
                                "MKNOD",
                                "LEASE",
                                "AUDIT_WRITE",
                                "AUDIT_CONTROL",
                                "SETFCAP",
                                "MAC_OVERRIDE",
                                "MAC_ADMIN",
                                "SYSLOG",
                                "WAKE_ALARM",
                                "BLOCK_SUSPEND",
                                "AUDIT_READ",
                                "PERFMON",
                                "BPF",
                                "CHECKPOINT_RESTORE"};
  std::vector<std::string> missing;
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapBnd:", 0) != 0) continue;
    uint64_t bnd = std::stoull(line.substr(7), nullptr, 16);
    for (size_t i = 0; i < std::size(names); ++i) {
      if (!(bnd & (uint64_t{1} << i))) missing.push_back(names[i]);
    }
  }
  return missing;
}

bool exists(const std::string& p) {
  std::error_code ec;
  return std::filesystem::exists(p, ec);
}

// Engine API path segments are ids or names we created; reject anything else.
bool safeId(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return false;
  }
  return true;
}

std::string urlEscape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

void registerFlags(flags::FlagSet& fs, DockerConfig& c) {
  fs.stringVar(&c.dockerHost, "docker-host", "unix:///var/run/docker.sock", "DOCKER_HOST",
               "Docker engine address");
  fs.stringVar(&c.apiVersion, "docker-api-version", "1.44", "DOCKER_API_VERSION",
               "Docker engine API version");
  fs.stringVar(&c.certPath, "docker-cert-path", "", "DOCKER_CERT_PATH",
               "directory with ca.pem, cert.pem and key.pem for a TLS engine");
  fs.boolVar(&c.tlsVerify, "docker-tls-verify", false, "DOCKER_TLS_VERIFY",
             "use TLS to talk to the engine");
  fs.stringVar(&c.podvmImage, "podvm-docker-image",
               "quay.io/confidential-containers/podvm-docker-image", "DOCKER_PODVM_IMAGE",
               "pod VM container image");
  fs.stringVar(&c.networkName, "docker-network-name", "bridge", "DOCKER_NETWORK_NAME",
               "Docker network the pod VM containers join");
  fs.stringVar(&c.dataDir, "data-dir", "/var/lib/docker/peerpods", "",
               "directory for pod VM user data and shared state");
  fs.boolVar(&c.privileged, "docker-privileged", false, "DOCKER_PODVM_PRIVILEGED",
             "run pod VM containers privileged, as upstream does (needed by images whose "
             "kata-agent runs real "
             "containers; a privileged container is root on the node)");
}

}  // namespace

PP_REGISTER_PROVIDER("docker", DockerConfig, registerFlags, buildWith<DockerProvider>)

Result<std::unique_ptr<Provider>> DockerProvider::create(const DockerConfig& config) {
  EngineOptions eo;
  eo.host = config.dockerHost;
  eo.apiVersion = config.apiVersion;
  eo.certPath = config.certPath;
  eo.tlsVerify = config.tlsVerify;
  auto engine = EngineClient::create(eo);
  if (!engine) return fail(engine.error());
  return std::unique_ptr<Provider>(new DockerProvider(config, std::move(*engine)));
}

Status DockerProvider::verifyConfig() {
  auto ping = engine_.call("GET", "/_ping");
  if (!ping) return fail(ping.error());
  if (ping->status != 200)
    return fail(Code::kUnavailable, "docker engine ping: " + EngineClient::errorMessage(*ping));
  auto image = engine_.call("GET", "/images/" + urlEscape(config_.podvmImage) + "/json");
  if (!image) return fail(image.error());
  if (image->status != 200) {
    return fail(Code::kFailedPrecondition,
                "pod VM image " + config_.podvmImage + ": " + EngineClient::errorMessage(*image));
  }
  return {};
}

Result<Instance> DockerProvider::createInstance(const CreateRequest& req) {
  const std::string image = req.spec.image.empty() ? config_.podvmImage : req.spec.image;
  if (!req.spec.image.empty())  // upstream's words; its e2e suite greps "Choosing <image>"
    log::info("docker", "Choosing {} from annotation as the docker image for the PodVM image",
              image);
  // The user data lives in a per-instance directory, removed again at delete (upstream leaves it)
  // and when the create fails: it holds the VM's TLS key.
  const std::string dir = config_.dataDir + "/" + req.instanceName;
  auto abandon = [&](Error err) -> Result<Instance> {
    (void)files::removeAll(dir);
    return fail(std::move(err));
  };
  if (auto st = files::makeDirs(dir, 0700); !st) return abandon(st.error());
  const std::string userData = dir + "/user-data";
  if (auto st = files::writeAtomic(userData, req.userData, 0600); !st) return abandon(st.error());
  // /run/kata-containers (the agent's socket and the containers' state) is per instance:
  // upstream shares <data-dir>/kata-containers between all pod VMs, so two pods on one node
  // replace each other's agent.sock. The image cache (/image) stays shared.
  if (auto st = files::makeDirs(dir + "/kata-containers", 0755); !st) return abandon(st.error());
  if (auto st = files::makeDirs(config_.dataDir + "/image", 0755); !st) return abandon(st.error());

  nlohmann::json binds = nlohmann::json::array({
      userData + ":/media/cidata/user-data:ro",
      dir + "/kata-containers:/run/kata-containers",
      config_.dataDir + "/image:/image",
  });
  // Only host paths that exist: docker would otherwise create directories in their place.
  for (const char* p : {"/lib/modules", "/run/xtables.lock"}) {
    if (exists(p)) binds.push_back(std::string(p) + ":" + p);
  }
  nlohmann::json body = {
      {"Image", image},
      {"Hostname", req.instanceName},
      {"ExposedPorts", {{"15150/tcp", nlohmann::json::object()}}},
      {"Labels",
       {{kTagSandbox, req.sandboxId}, {kTagPod, req.podName}, {kTagNamespace, req.podNamespace}}},
      {"HostConfig",
       {{"Privileged", false},
        {"CapAdd", kPodVmCapabilities},
        {"SecurityOpt", {"apparmor=unconfined", "no-new-privileges"}},
        {"Binds", binds},
        {"NetworkMode", config_.networkName}}},
      {"NetworkingConfig",
       {{"EndpointsConfig", {{config_.networkName, nlohmann::json::object()}}}}},
  };
  if (config_.privileged) {
    auto& hc = body["HostConfig"];
    static const std::vector<std::string> missing = missingCapabilities();
    hc.erase("SecurityOpt");
    if (missing.empty()) {
      hc["Privileged"] = true;
      hc.erase("CapAdd");
    } else {
      hc["CapAdd"] = {"ALL"};
      hc["CapDrop"] = missing;
      hc["SecurityOpt"] = {"seccomp=unconfined", "apparmor=unconfined"};
    }
  }
  auto created =
      engine_.call("POST", "/containers/create?name=" + urlEscape(req.instanceName), &body);
  if (!created) {
    // The engine may have made the container before the answer was lost: remove it by name.
    if (mayHaveBeenApplied(created.error())) (void)deleteInstance(req.instanceName);
    return abandon(created.error());
  }
  if (created->status != 201) {
    Code code = created->status == 404   ? Code::kNotFound
                : created->status == 409 ? Code::kAlreadyExists
                                         : Code::kInternal;
    return abandon(Error(code, "docker: creating container " + req.instanceName + " from image " +
                                   image + ": " + EngineClient::errorMessage(*created)));
  }
  std::string id = created->body.is_object() ? created->body.value("Id", "") : "";
  if (!safeId(id)) {
    (void)deleteInstance(req.instanceName);
    return abandon(Error(Code::kInternal, "docker: container create answered no usable Id"));
  }
  auto cleanup = [&](Error e) -> Result<Instance> {
    // A create that fails after the container exists removes it (provider contract).
    (void)deleteInstance(id);
    return fail(std::move(e));
  };
  auto started = engine_.call("POST", "/containers/" + id + "/start");
  if (!started) return cleanup(started.error());
  if (started->status != 204 && started->status != 304) {
    return cleanup(Error{Code::kInternal, "docker: starting container " + req.instanceName + ": " +
                                              EngineClient::errorMessage(*started)});
  }
  auto inst = inspect(id, req.instanceName);
  if (!inst) return cleanup(inst.error());
  log::info("docker", "container {} ({}) running at {}", req.instanceName, id.substr(0, 12),
            inst->ips.empty() ? "-" : inst->ips.front());
  return inst;
}

Result<Instance> DockerProvider::inspect(const std::string& id, const std::string& name) {
  auto r = engine_.call("GET", "/containers/" + id + "/json");
  if (!r) return fail(r.error());
  if (r->status != 200)
    return fail(Code::kInternal,
                "docker: inspecting " + name + ": " + EngineClient::errorMessage(*r));
  Instance inst{id, name, {}};
  try {
    const auto& nets = r->body.at("NetworkSettings").at("Networks");
    if (nets.contains(config_.networkName)) {
      auto ip = nets.at(config_.networkName).value("IPAddress", "");
      if (!ip.empty()) inst.ips.push_back(ip);
    }
    if (inst.ips.empty()) {
      for (const auto& [netName, net] : nets.items()) {
        auto ip = net.value("IPAddress", "");
        if (!ip.empty()) inst.ips.push_back(ip);
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return fail(Code::kInternal, std::string("docker: unexpected inspect reply: ") + e.what());
  }
  if (inst.ips.empty()) {
    return fail(Code::kInternal, "docker: container " + name + " has no IP address on network " +
                                     config_.networkName);
  }
  return inst;
}

Status DockerProvider::deleteInstance(const std::string& id) {
  if (!safeId(id)) return fail(Code::kInvalidArgument, "docker: bad container id \"" + id + "\"");
  std::string name;
  if (auto r = engine_.call("GET", "/containers/" + id + "/json");
      r && r->status == 200 && r->body.is_object()) {
    name = r->body.value("Name", "");
    if (!name.empty() && name[0] == '/') name.erase(0, 1);
  }
  auto r = engine_.call("DELETE", "/containers/" + id + "?force=true&v=true");
  if (!r) return fail(r.error());
  if (r->status == 409) {
    // "removal of container ... is already in progress": another delete (a killed adaptor's,
    // still running in dockerd) is removing it. Wait, bounded, until it is gone.
    for (int i = 0; i < 100 && r && r->status == 409; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      auto gone = engine_.call("GET", "/containers/" + id + "/json");
      if (gone && gone->status == 404) r = std::move(gone);
    }
    if (!r) return fail(r.error());
  }
  if (r->status != 204 && r->status != 404) {
    return fail(Code::kInternal,
                "docker: removing container " + id + ": " + EngineClient::errorMessage(*r));
  }
  if (!name.empty() && safeId(name)) (void)files::removeAll(config_.dataDir + "/" + name);
  return {};
}

Result<std::vector<Instance>> DockerProvider::listInstances(const std::string& tag) {
  nlohmann::json filter = {
      {"label", {tag.empty() ? std::string(kTagSandbox) : std::string(kTagSandbox) + "=" + tag}}};
  auto r = engine_.call("GET", "/containers/json?all=true&filters=" + urlEscape(filter.dump()));
  if (!r) return fail(r.error());
  if (r->status != 200 || !r->body.is_array())
    return fail(Code::kInternal, "docker: listing containers: " + EngineClient::errorMessage(*r));
  std::vector<Instance> out;
  for (const auto& c : r->body) {
    Instance i;
    i.id = c.value("Id", "");
    if (c.contains("Names") && c["Names"].is_array() && !c["Names"].empty()) {
      i.name = c["Names"][0].get<std::string>();
      if (!i.name.empty() && i.name[0] == '/') i.name.erase(0, 1);
    }
    out.push_back(std::move(i));
  }
  return out;
}

}  // namespace pp::providers::docker
