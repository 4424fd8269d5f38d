#include "providers/byom/byom_provider.h"

#include <set>
#include <thread>

#include "base/log.h"
#include "providers/byom/allocation.h"
#include "providers/registry.h"

namespace pp::providers::byom {

namespace {
constexpr std::string_view kLog = "byom";
}

PP_REGISTER_PROVIDER("byom", ByomConfig, registerByomFlags, buildWith<ByomProvider>)

ByomProvider::ByomProvider(ByomConfig config, ByomDependencies deps, std::vector<std::string> pool,
                           std::string privateKey, std::optional<std::set<std::string>> allowlist,
                           std::string ns)
    : config_(std::move(config)),
      deps_(std::move(deps)),
      pool_(std::move(pool)),
      privateKey_(std::move(privateKey)),
      allowlist_(std::move(allowlist)) {
  PoolStoreOptions options;
  options.ns = std::move(ns);
  options.name = config_.poolConfigMapName;
  options.pool = pool_;
  store_ = std::make_unique<PoolStore>(deps_.kube, std::move(options));
}

Result<std::unique_ptr<ByomProvider>> ByomProvider::create(const ByomConfig& config,
                                                           ByomDependencies deps) {
  if (!deps.env) deps.env = flags::processEnv();
  if (config.maxRangeIps < 1)
    return fail(Code::kInvalidArgument, "byom: -max-range-ips (MAX_RANGE_IPS) must be at least 1");
  if (config.sshTimeoutSeconds < 1)
    return fail(Code::kInvalidArgument, "byom: -ssh-timeout (SSH_TIMEOUT) must be at least 1");
  if (config.sshUsername.empty())
    return fail(Code::kInvalidArgument, "byom: -ssh-username (SSH_USERNAME) is empty");
  if (config.poolConfigMapName.empty())
    return fail(Code::kInvalidArgument,
                "byom: -pool-configmap-name (POOL_CONFIGMAP_NAME) is empty");
  auto pool = parsePoolIps(config.vmPoolIps, config.maxRangeIps);
  if (!pool) return fail(pool.error());
  if (pool->empty())
    return fail(Code::kInvalidArgument,
                "byom: -vm-pool-ips (VM_POOL_IPS) is required: the "
                "addresses of the pre-created pod VMs");
  auto key = loadPrivateKey(config.sshPrivKeyPath);
  if (!key) return fail(key.error());
  if (auto st = checkPublicKeyFile(config.sshPubKeyPath, *key); !st) return fail(st.error());
  std::optional<std::set<std::string>> allowlist;
  if (!config.sshHostKeyAllowlistDir.empty()) {
    auto keys = loadHostKeyAllowlist(config.sshHostKeyAllowlistDir);
    if (!keys) return fail(keys.error());
    allowlist = std::move(*keys);
  }
  if (!deps.kube) {
    auto kc = k8s::defaultConfig();
    if (!kc) return fail(kc.error().wrap("byom: the pool state lives in a ConfigMap"));
    deps.kube = std::make_shared<k8s::Client>(std::move(*kc));
  }
  std::string ns = config.poolNamespace.empty() ? detectNamespace(deps.env, deps.namespaceFile)
                                                : config.poolNamespace;
  std::unique_ptr<ByomProvider> p(new ByomProvider(config, std::move(deps), std::move(*pool),
                                                   std::move(*key), std::move(allowlist), ns));
  log::info(kLog, "pool of {} VMs, state in ConfigMap {}/{}, ssh user {}, host keys {}",
            p->pool_.size(), ns, config.poolConfigMapName, config.sshUsername,
            p->allowlist_ ? "from " + config.sshHostKeyAllowlistDir : "trusted on first use");
  if (auto st = p->recover(); !st)  // as upstream: the operations re-read the state anyway
    log::warn(kLog, "recovering the pool state: {}", st.error().message);
  return p;
}

Status ByomProvider::recover() {
  const int64_t now = unixNow();
  size_t allocated = 0, available = 0;
  auto st = store_->update([&](PoolStore::Snapshot& s, bool& write) -> Status {
    if (s.present) recoverAvailable(s.state, pool_, now);
    allocated = s.state.allocated.size();
    available = s.state.available.size();
    write = true;
    return {};
  });
  if (!st) return st;
  log::info(kLog, "pool state: {} VMs available, {} allocated", available, allocated);
  if (allocated == 0) return {};

  // Allocations nobody will delete: their PeerPod is gone (the node that made them crashed
  // before it could delete the VM, or a PeerPod was removed by hand).
  auto snapshot = store_->read();
  if (!snapshot) return fail(snapshot.error());
  std::set<std::string> named;
  bool peerPodsKnown = false;
  if (config_.orphanGracePeriod.count() > 0) {
    auto peerPods = store_->client().list(k8s::resources::kPeerPods, "");
    if (!peerPods) {
      log::warn(kLog, "cannot list PeerPods, orphaned allocations are kept: {}",
                peerPods.error().message);
    } else {
      peerPodsKnown = true;
      if (auto items = peerPods->find("items"); items != peerPods->end() && items->is_array())
        for (const auto& pp : *items) named.insert(k8s::field(pp, "spec", "instanceID"));
    }
  }
  const int64_t grace =
      std::chrono::duration_cast<std::chrono::seconds>(config_.orphanGracePeriod).count();
  for (const auto& [id, a] : snapshot->state.allocated) {
    bool orphan = peerPodsKnown && !named.contains(a.ip) && a.allocatedAt != 0 &&
                  now - a.allocatedAt >= grace;
    if (!orphan && a.drainingSince == 0) continue;
    // A quick probe first, so that machines that are down do not hold up the start for an
    // SSH timeout each.
    if (auto up = probeTcp(a.ip, deps_.sshPort, deps_.probeTimeout); !up) {
      if (a.drainingSince == 0) (void)markDraining(*store_, id, now);
      log::warn(kLog, "VM {} of allocation {} ({}) does not answer; it stays allocated (draining)",
                a.ip, id, a.drainingSince != 0 ? "draining" : "its PeerPod is gone");
      continue;
    }
    log::info(kLog, "releasing VM {} of allocation {} ({})", a.ip, id,
              a.drainingSince != 0 ? "draining" : "its PeerPod is gone");
    if (auto r = resetAndRelease(id, a.ip); !r)
      log::warn(kLog, "VM {} stays allocated: {}", a.ip, r.error().message);
  }
  return {};
}

Status ByomProvider::checkHostKey(const std::string& ip, const std::string& fingerprint) {
  if (allowlist_) {
    if (allowlist_->contains(fingerprint)) return {};
    return fail(Code::kPermissionDenied, "byom: the host key of VM " + ip + " (" + fingerprint +
                                             ") is not in -ssh-host-key-allowlist-dir " +
                                             config_.sshHostKeyAllowlistDir);
  }
  std::string known;
  auto st = store_->update([&](PoolStore::Snapshot& s, bool& write) -> Status {
    auto it = s.hostKeys.find(ip);
    if (it != s.hostKeys.end()) {
      known = it->second;
      return {};
    }
    known.clear();
    s.hostKeys[ip] = fingerprint;
    write = true;
    return {};
  });
  if (!st) return st;
  if (known.empty()) {
    log::info(kLog, "trusting the host key of VM {} on first use: {}", ip, fingerprint);
    return {};
  }
  if (known == fingerprint) return {};
  return fail(Code::kFailedPrecondition,
              "byom: the host key of VM " + ip + " changed: it was " + known + " and is now " +
                  fingerprint +
                  "; refusing to send it anything. If the VM was re-installed, "
                  "delete its entry from key " +
                  kHostKeysKey + " of ConfigMap " + store_->options().ns + "/" +
                  store_->options().name + " (or use -ssh-host-key-allowlist-dir)");
}

Status ByomProvider::sendFile(const std::string& ip, const std::string& path,
                              const std::string& content) {
  SftpSettings s;
  s.user = config_.sshUsername;
  s.privateKeyPem = privateKey_;
  s.timeout = std::chrono::seconds(config_.sshTimeoutSeconds);
  s.port = deps_.sshPort;
  return sftpWriteFile(
      s, ip,
      [this](const std::string& host, const std::string& fp) { return checkHostKey(host, fp); },
      path, content);
}

Status ByomProvider::waitForSsh(const std::string& ip) {
  auto pause = std::chrono::milliseconds(10);
  Status last;
  for (int attempt = 1; attempt <= deps_.probeAttempts; ++attempt) {
    last = probeTcp(ip, deps_.sshPort, deps_.probeTimeout);
    if (last) return {};
    if (attempt == deps_.probeAttempts) break;
    std::this_thread::sleep_for(pause);
    pause *= 5;
  }
  return fail(
      Code::kUnavailable,
      "byom: VM " + ip + " is not ready (its SSH port does not answer): " + last.error().message);
}

Status ByomProvider::release(const std::string& allocationId, const std::string& ip) {
  return releaseIp(*store_, allocationId, ip, unixNow());
}

Status ByomProvider::resetAndRelease(const std::string& allocationId, const std::string& ip) {
  auto sent = sendFile(ip, kRebootPath, kRebootContent);
  if (!sent) {
    auto marked = markDraining(*store_, allocationId, unixNow());
    if (!marked) log::warn(kLog, "marking VM {} as draining: {}", ip, marked.error().message);
    return fail(Code::kUnavailable,
                "byom: cannot send the reboot trigger to VM " + ip + " (" + sent.error().message +
                    "); it stays allocated (draining) and is not given to another pod until a "
                    "delete reaches it");
  }
  if (auto st = release(allocationId, ip); !st) return st;
  log::info(kLog, "VM {} reset and returned to the pool", ip);
  return {};
}

Result<Instance> ByomProvider::createInstance(const CreateRequest& r) {
  auto node = detectNodeName(deps_.env, deps_.podinfoNodeNameFile, deps_.hostnameFile);
  if (!node) return fail(node.error());
  AllocationRequest a;
  a.allocationId = r.podName + "-" + r.sandboxId;
  a.podName = r.podName;
  a.sandboxId = r.sandboxId;
  a.instanceName = r.instanceName;
  a.nodeName = *node;
  a.now = unixNow();
  auto allocated = allocateIp(*store_, a);
  if (!allocated) return fail(allocated.error());
  const std::string& allocationId = a.allocationId;
  const std::string ip = allocated->ip;
  const bool reused = allocated->reused;
  log::Sandbox sb{r.sandboxId};
  log::info(kLog, sb, "VM {} {} for {} ({})", ip, reused ? "already allocated" : "allocated",
            allocationId, r.instanceName);

  Status prepared = waitForSsh(ip);
  if (prepared) prepared = sendFile(ip, kUserDataPath, r.userData);
  if (!prepared) {
    if (auto back = release(allocationId, ip); !back)
      log::warn(kLog, sb, "returning VM {} to the pool: {}", ip, back.error().message);
    return fail(prepared.error().wrap("byom: preparing VM " + ip + " for " + r.instanceName));
  }
  log::info(kLog, sb, "user data sent to VM {} ({} bytes)", ip, r.userData.size());
  Instance inst;
  inst.id = ip;
  inst.name = r.instanceName.empty() ? "byom-" + ip : r.instanceName;
  inst.ips = {ip};
  return inst;
}

Status ByomProvider::deleteInstance(const std::string& id) {
  if (id.empty()) return {};
  auto valid = parsePoolIps(id, 1);
  if (!valid || valid->size() != 1 || id.find_first_of(",-") != std::string::npos)
    return fail(Code::kInvalidArgument, "byom: instance id " + id + " is not an IP address");
  auto snapshot = store_->read();
  if (!snapshot) return fail(snapshot.error());
  const IpAllocation* a = snapshot->state.findByIp(id);
  if (!a) {
    // Upstream sends the reboot trigger anyway, which resets whatever pod the VM runs now.
    log::info(kLog, "VM {} is not allocated, nothing to delete", id);
    return {};
  }
  return resetAndRelease(a->allocationId, id);
}

Status ByomProvider::verifyConfig() {
  // The settings were checked by create(); what remains is the ConfigMap's reachability and
  // our permission to read it. Pool machines are not probed here: a machine that is down now
  // may be up when a pod needs it, and a pod's create probes its own.
  auto snapshot = store_->read();
  if (!snapshot) return fail(snapshot.error());
  return {};
}

Result<std::vector<Instance>> ByomProvider::listInstances(const std::string& sandboxId) {
  auto snapshot = store_->read();
  if (!snapshot) return fail(snapshot.error());
  std::vector<Instance> out;
  for (const auto& [id, a] : snapshot->state.allocated) {
    bool match =
        sandboxId.empty() || a.sandboxId == sandboxId ||
        (a.sandboxId.empty() && id.size() > sandboxId.size() && id.ends_with("-" + sandboxId));
    if (!match) continue;
    Instance inst;
    inst.id = a.ip;
    inst.name = a.instanceName.empty() ? "byom-" + a.ip : a.instanceName;
    inst.ips = {a.ip};
    out.push_back(std::move(inst));
  }
  return out;
}

}  // namespace pp::providers::byom
