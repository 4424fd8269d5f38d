#include "adaptor/sandbox_manager.h"

#include <algorithm>
#include <ctime>
#include <future>

#include "apf/apf_config.h"
#include "base/files.h"
#include "base/log.h"
#include "base/scope_exit.h"
#include "cloudinit/cloud_config.h"
#include "cloudinit/initdata.h"
#include "providers/cloud_api.h"

namespace pp::adaptor {
namespace {

// Upstream ships auth.json only up to this size (user data limits of some clouds).
constexpr size_t kMaxAuthJsonBytes = 12288;

int64_t unixNow() {
  return static_cast<int64_t>(std::time(nullptr));
}

double msSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double msBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// CPU time of the whole adaptor process (every thread), in ms.
double processCpuMs() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// The production SandboxProxy: an AgentProxy relaying to the pod VM's forwarder.
class RelayingProxy final : public SandboxProxy {
 public:
  explicit RelayingProxy(std::shared_ptr<AgentProxy> proxy) : proxy_(std::move(proxy)) {}
  std::future<Status> start(Clock::time_point readyBy) override { return proxy_->start(readyBy); }
  std::future<Status> listenOnly() override { return proxy_->listenOnly(); }
  void shutdown() override { proxy_->shutdown(); }

 private:
  std::shared_ptr<AgentProxy> proxy_;
};

// The adaptor's metrics (docs/metrics.md), in the process's registry.
struct AdaptorMetrics {
  metrics::Registry& r = metrics::global();
  metrics::Family<metrics::Histogram>& createVm =
      r.histogram("peerpods_adaptor_createvm_duration_seconds",
                  "CreateVM calls: time to prepare the sandbox (no cloud call).",
                  {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1});
  metrics::Family<metrics::Histogram>& startVm = r.histogram(
      "peerpods_adaptor_startvm_duration_seconds",
      "StartVM calls: from the call to a running pod VM with its agent reachable, or failure.",
      metrics::durationBuckets());
  metrics::Family<metrics::Histogram>& agentWait =
      r.histogram("peerpods_adaptor_agent_wait_seconds",
                  "Time from the instance's creation to its agent answering (the VM's boot).",
                  metrics::durationBuckets());
  metrics::Family<metrics::Histogram>& stopVm = r.histogram(
      "peerpods_adaptor_stopvm_duration_seconds", "StopVM calls.", metrics::durationBuckets());
  metrics::Family<metrics::Histogram>& providerCreate =
      r.histogram("peerpods_provider_create_duration_seconds",
                  "The provider's instance creation (until the instance has its IP), by provider.",
                  metrics::durationBuckets(), {"provider"});
  metrics::Family<metrics::Histogram>& providerDelete = r.histogram(
      "peerpods_provider_delete_duration_seconds", "The provider's instance deletion, by provider.",
      metrics::durationBuckets(), {"provider"});
  metrics::Family<metrics::Counter>& providerCalls =
      r.counter("peerpods_provider_calls_total",
                "Provider calls by provider, operation (create, delete, list) and result (ok or "
                "the error code).",
                {"provider", "operation", "result"});
  metrics::Family<metrics::Counter>& failedStartsCleaned =
      r.counter("peerpods_adaptor_failed_starts_cleaned_up_total",
                "Instances deleted because their StartVM failed after they were created.");
  metrics::Family<metrics::Counter>& reattached =
      r.counter("peerpods_adaptor_instances_reattached_total",
                "Running pod VMs taken back over by a restarted adaptor.");
  metrics::Family<metrics::Counter>& leftovers =
      r.counter("peerpods_adaptor_leftover_instances_deleted_total",
                "Instances found by their sandbox tag and deleted: made by a StartVM the adaptor's "
                "restart interrupted before it saved their id.");
};

AdaptorMetrics& adaptorMetrics() {
  static AdaptorMetrics m;
  return m;
}

double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string resultLabel(const Error* e) {
  if (!e) return "ok";
  std::string name(codeName(e->code));
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

}  // namespace

SandboxManager::SandboxManager(ManagerOptions options, providers::Provider& provider,
                               StateStore& store, PodNetwork& network, CertIssuer* issuer,
                               asio::any_io_executor io, ProxyFactory proxyFactory)
    : options_(std::move(options)),
      provider_(provider),
      store_(store),
      network_(network),
      issuer_(issuer),
      io_(std::move(io)),
      proxyFactory_(std::move(proxyFactory)) {
  if (!proxyFactory_) {
    proxyFactory_ = [this](AgentProxyOptions po) -> std::shared_ptr<SandboxProxy> {
      return std::make_shared<RelayingProxy>(AgentProxy::create(io_, std::move(po)));
    };
  }
  adaptorMetrics();  // every family shows from the first scrape
  auto& r = metrics::global();
  sandboxesGauge_ = r.gaugeCallback("peerpods_adaptor_sandboxes",
                                    "Sandboxes this adaptor knows, by phase.", {"phase"}, [this] {
                                      std::map<Phase, double> counts{{Phase::kCreated, 0},
                                                                     {Phase::kStarting, 0},
                                                                     {Phase::kRunning, 0},
                                                                     {Phase::kStopping, 0},
                                                                     {Phase::kFailed, 0}};
                                      {
                                        std::lock_guard lock(mu_);
                                        for (const auto& [id, t] : tracked_) ++counts[t.phase];
                                      }
                                      metrics::GaugeSamples out;
                                      for (auto [phase, n] : counts)
                                        out.push_back({{std::string(phaseName(phase))}, n});
                                      return out;
                                    });
  tunnelsGauge_ = r.gaugeCallback("peerpods_adaptor_tunnels",
                                  "Pod network tunnels (VXLAN) to pod VMs.", {}, [this] {
                                    std::lock_guard lock(mu_);
                                    double n = 0;
                                    for (const auto& [id, t] : tracked_) n += t.tunnel ? 1 : 0;
                                    return metrics::GaugeSamples{{{}, n}};
                                  });
}

void SandboxManager::track(const SandboxState& s) {
  std::lock_guard lock(mu_);
  tracked_[s.id] = {s.phase, s.network.has_value() && !s.ips.empty()};
}

void SandboxManager::untrack(const std::string& id) {
  std::lock_guard lock(mu_);
  tracked_.erase(id);
}

Result<providers::Instance> SandboxManager::providerCreate(
    const providers::CreateRequest& request) {
  auto& m = adaptorMetrics();
  auto t0 = Clock::now();
  auto r = provider_.createInstance(request);
  m.providerCreate.with({options_.providerName}).observe(secondsSince(t0));
  m.providerCalls.with({options_.providerName, "create", resultLabel(r ? nullptr : &r.error())})
      .inc();
  return r;
}

Status SandboxManager::providerDelete(const std::string& instanceId) {
  auto& m = adaptorMetrics();
  auto t0 = Clock::now();
  auto st = provider_.deleteInstance(instanceId);
  m.providerDelete.with({options_.providerName}).observe(secondsSince(t0));
  m.providerCalls.with({options_.providerName, "delete", resultLabel(st ? nullptr : &st.error())})
      .inc();
  return st;
}

Result<std::vector<providers::Instance>> SandboxManager::providerList(const std::string& tag) {
  auto r = provider_.listInstances(tag);
  adaptorMetrics()
      .providerCalls.with({options_.providerName, "list", resultLabel(r ? nullptr : &r.error())})
      .inc();
  return r;
}

SandboxManager::~SandboxManager() {
  shutdown();
}

std::string SandboxManager::agentSocketPath(const std::string& id) const {
  return options_.podsDir + "/" + id + "/agent.ttrpc";
}

std::string SandboxManager::apfJsonPath(const std::string& id) const {
  return options_.podsDir + "/" + id + "/apf.json";
}

std::shared_ptr<SandboxManager::Entry> SandboxManager::find(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : it->second;
}

size_t SandboxManager::sandboxCount() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

Status SandboxManager::save(const SandboxState& state, files::Durability durability) {
  track(state);
  auto st = store_.save(state, durability);
  if (!st) log::error("sandbox", "{}: saving state failed: {}", state.id, st.error().message);
  return st;
}

Status SandboxManager::checkImage(const std::string& image) const {
  if (image.empty()) return {};
  const std::string what =
      "image " + log::quote(image) + " (annotation " + kHypervisorAnnotationPrefix + "image)";
  if (options_.allowedImages.restricted()) {
    if (options_.allowedImages.allows(image)) return {};
    return fail(Code::kPermissionDenied, what + " is not in -allowed-images");
  }
  if (provider_.acceptsUnlistedImage(image)) return {};
  return fail(Code::kPermissionDenied,
              what +
                  ": this provider runs pod VM images on the node, so it takes an "
                  "image other than its configured one only when -allowed-images "
                  "(ALLOWED_IMAGES) lists it");
}

Result<std::string> SandboxManager::createVM(const CreateVmInput& in) {
  auto t0 = Clock::now();
  ScopeExit timed([&] { adaptorMetrics().createVm.with().observe(secondsSince(t0)); });
  if (auto st = validateSandboxId(in.id); !st) return fail(st.error());
  std::string sandboxName = annotation(in.annotations, kSandboxNameAnnotation);
  std::string ns = annotation(in.annotations, kSandboxNamespaceAnnotation);
  if (sandboxName.empty()) {
    return fail(Code::kInvalidArgument, std::string("CreateVM: annotation ") +
                                            kSandboxNameAnnotation +
                                            " is missing: the runtime must pass the pod name");
  }
  if (ns.empty()) {
    return fail(Code::kInvalidArgument, std::string("CreateVM: annotation ") +
                                            kSandboxNamespaceAnnotation +
                                            " is missing: the runtime must pass the pod namespace");
  }
  if (agentSocketPath(in.id).size() > 107) {
    return fail(Code::kInvalidArgument,
                "CreateVM: agent socket path " + agentSocketPath(in.id) +
                    " would exceed the 107-byte unix socket limit; use a shorter -pods-dir");
  }
  auto spec = specFromAnnotations(in.annotations);
  if (!spec) return fail(spec.error().wrap("CreateVM"));
  if (auto st = checkImage(spec->image); !st) return fail(st.error().wrap("CreateVM"));
  std::string initdata = options_.initdata;
  if (auto a = hypervisorAnnotation(in.annotations, "cc_init_data"); !a.empty()) {
    auto norm = cloudinit::normaliseInitdata(a);
    if (!norm) return fail(norm.error().wrap("CreateVM: pod annotation cc_init_data"));
    initdata = *norm;
  }

  auto entry = std::make_shared<Entry>();
  {
    std::lock_guard lock(mu_);
    if (auto it = entries_.find(in.id); it != entries_.end()) {
      // A retried CreateVM for a sandbox we already know answers the same socket.
      if (it->second->state.phase == Phase::kCreated) return agentSocketPath(in.id);
      return fail(Code::kAlreadyExists, "CreateVM: sandbox " + in.id + " already exists (" +
                                            std::string(phaseName(it->second->state.phase)) + ")");
    }
    entries_[in.id] = entry;
  }
  std::lock_guard elock(entry->mu);
  bool apfPrepared = false;  // prepareApf ran: what it made goes with the sandbox
  auto abandon = [&](Error e) {
    // Before the entry goes, so that a new CreateVM of the id cannot make keys in between.
    if (apfPrepared && options_.forgetSandbox) options_.forgetSandbox(in.id);
    std::lock_guard lock(mu_);
    entries_.erase(in.id);
    tracked_.erase(in.id);
    return fail(std::move(e));
  };

  SandboxState& s = entry->state;
  s.id = in.id;
  s.phase = Phase::kCreated;
  s.podName = podNameFromSandboxName(sandboxName);
  s.podNamespace = ns;
  s.netnsPath = in.netnsPath;
  s.spec = *spec;
  s.instanceName = instanceName(s.podName, s.id);
  s.createdAt = unixNow();

  const auto tNetwork = Clock::now();
  auto net = network_.inspect(in.netnsPath);
  if (!net) return abandon(net.error().wrap("CreateVM: inspecting pod network " + in.netnsPath));
  s.network = std::move(*net);
  // Gives back the VNI inspect allocated when CreateVM fails after it.
  auto releaseNetwork = [&] {
    if (s.network) network_.release(*s.network);
  };

  // What upstream's adaptor sends (cloud.go): the pod's Kubernetes namespace and name, its
  // network, and TLS material as PEM text. The forwarder finds the netns by its own flag.
  apf::ApfConfig apf;
  apf.podNamespace = s.podNamespace;
  apf.podName = s.podName;
  apf.podNetwork = s.network;
  const auto tCert = Clock::now();
  if (!options_.disableTls && issuer_) {
    auto server = issuer_->issueServer(s.instanceName);
    if (!server) {
      releaseNetwork();
      return abandon(server.error().wrap("CreateVM: issuing the pod VM's certificate"));
    }
    apf.tlsServerKey = server->keyPem;
    apf.tlsServerCert = server->certPem;
    apf.tlsClientCa = issuer_->clientCaPem();
    // Baked in at creation, as upstream: a changed profile reaches only new pod VMs.
    apf.tlsMinVersion = options_.tlsMinVersion;
    apf.tlsCipherSuites = options_.tlsCipherSuites;
    auto bundle = issuer_->clientBundle();
    s.caCertPem = bundle.caCertPem;
    s.clientCertPem = bundle.clientCertPem;
    s.clientKeyPem = bundle.clientKeyPem;
  }
  const auto tApf = Clock::now();
  if (options_.prepareApf) {
    apfPrepared = true;
    if (auto st = options_.prepareApf(s.id, apf); !st) {
      releaseNetwork();
      return abandon(st.error().wrap("CreateVM: secure comms"));
    }
  }
  // Indented as upstream writes it, so the VM gets the same bytes from either adaptor.
  const std::string apfJson = apf.toJsonIndented();
  std::vector<cloudinit::WriteFile> files = {{apf::kApfJsonPath, apfJson}};
  if (kube_) {
    PodInfo pod = kube_->podInfo(s.podNamespace, s.podName);
    s.podUid = pod.uid;
    if (pod.authJson.size() > kMaxAuthJsonBytes) {
      log::warn("sandbox",
                "{}: image-pull credentials of {}/{} are {} bytes, over the {}-byte limit; "
                "not sent to the pod VM",
                s.id, s.podNamespace, s.podName, pod.authJson.size(), kMaxAuthJsonBytes);
    } else if (!pod.authJson.empty()) {
      files.push_back({"/run/peerpod/auth.json", pod.authJson});
    }
  }
  if (!initdata.empty()) files.push_back({"/run/peerpod/initdata", initdata});
  if (options_.enableScratchSpace) files.push_back({"/run/peerpod/scratch-space.marker", ""});
  s.userData = cloudinit::renderCloudConfig(files);

  // Upstream keeps a copy of what the VM is sent beside the agent socket, for debugging (and
  // fails the call if it cannot). It holds the VM's private key, hence 0600. Nothing reads it
  // back (state.json is what a restart needs), so it is not worth two fsyncs per pod.
  const auto tFiles = Clock::now();
  auto copied = files::makeDirs(options_.podsDir + "/" + s.id, 0700);
  if (copied)
    copied = files::writeAtomic(apfJsonPath(s.id), apfJson, 0600, files::Durability::kReplaceOnly);
  if (!copied) {
    releaseNetwork();
    return abandon(copied.error().wrap("CreateVM: storing " + apfJsonPath(s.id)));
  }
  // No fsync: until StartVM saves its intent to create an instance (durably), a sandbox that a
  // power loss forgets has nothing in the cloud (two fsyncs fewer per pod start).
  if (auto st = save(s, files::Durability::kReplaceOnly); !st) {
    (void)files::removeAll(apfJsonPath(s.id));
    releaseNetwork();
    return abandon(st.error().wrap("CreateVM"));
  }
  // Upstream's words (cloud.go): its e2e suite finds each pod's sandbox id by this line.
  log::info("sandbox", log::Sandbox(s.id),
            "create a sandbox {} for pod {} in namespace {} (netns: {}) instance-name={} vni={} "
            "({:.1f} ms; before the network {:.1f} ms, network {:.1f} ms, certificate {:.1f} ms, "
            "user data {:.1f} ms, files and state {:.1f} ms)",
            s.id, s.podName, s.podNamespace, s.netnsPath, s.instanceName, s.vni(), msSince(t0),
            msBetween(t0, tNetwork), msBetween(tNetwork, tCert), msBetween(tCert, tApf),
            msBetween(tApf, tFiles), msSince(tFiles));
  return agentSocketPath(in.id);
}

Result<std::shared_ptr<SandboxProxy>> SandboxManager::makeProxy(const SandboxState& s) {
  AgentProxyOptions po;
  po.sandboxId = s.id;
  po.socketPath = agentSocketPath(s.id);
  po.vmHost = s.ips.empty() ? "" : s.ips.front();
  po.vmPort = options_.forwarderPort;
  po.proxyTimeout = options_.proxyTimeout;
  po.serverName = s.instanceName;
  po.directVolumesDir = options_.directVolumesDir;
  if (!options_.disableTls) {
    // Sandboxes share a TLS context when their material is the same (the usual case): an
    // SSL_CTX with its certificates costs tens of KiB.
    std::string key = s.caCertPem + '\0' + s.clientCertPem;
    std::lock_guard lock(mu_);
    if (auto it = tlsContexts_.find(key); it != tlsContexts_.end()) po.tls = it->second.lock();
    if (!po.tls) {
      auto profile = net::parseTlsProfile(options_.tlsMinVersion, options_.tlsCipherSuites);
      if (!profile) return fail(profile.error().wrap("agent proxy TLS"));
      auto ctx = makeClientContext({s.caCertPem, s.clientCertPem, s.clientKeyPem},
                                   options_.tlsSkipVerify, *profile);
      if (!ctx) return fail(ctx.error().wrap("agent proxy TLS"));
      po.tls = *ctx;
      std::erase_if(tlsContexts_, [](const auto& kv) { return kv.second.expired(); });
      tlsContexts_[key] = po.tls;
    }
  }
  return proxyFactory_(std::move(po));
}

void SandboxManager::event(const SandboxState& s, EventType type, const std::string& reason,
                           const std::string& message) {
  if (kube_) kube_->event(s, type, reason, message);
}

void SandboxManager::releasePeerPod(SandboxState& s) {
  if (!kube_ || s.peerPodName.empty()) return;
  if (auto st = kube_->releasePeerPod(s.podNamespace, s.peerPodName); !st) {
    // peerpod-ctrl deletes the (already deleted) instance again and drops the finalizer.
    log::warn("sandbox", "{}: removing the finalizer of PeerPod {}/{}: {}", s.id, s.podNamespace,
              s.peerPodName, st.error().message);
    return;
  }
  log::info("sandbox", "{}: released PeerPod {}/{}", s.id, s.podNamespace, s.peerPodName);
  s.peerPodName.clear();
}

void SandboxManager::cleanupFailedStart(Entry& e, const std::string& reason) {
  SandboxState& s = e.state;
  if (e.proxy) {
    e.proxy->shutdown();
    e.proxy.reset();
  }
  if (!s.ips.empty() && s.network) {
    if (auto st = network_.teardown(s.netnsPath, *s.network); !st) {
      log::warn("sandbox", "{}: pod network teardown after failed start: {}", s.id,
                st.error().message);
    }
  }
  if (!s.instanceId.empty()) {
    // Upstream leaks the instance here; we delete it.
    if (auto st = providerDelete(s.instanceId); !st) {
      log::error("sandbox", "{}: deleting instance {} after failed start: {}", s.id, s.instanceId,
                 st.error().message);
      s.lastError = reason + "; instance delete failed: " + st.error().message;
      save(s);  // phase stays starting: restore() retries the delete
      return;
    }
    log::info("sandbox", "{}: deleted instance {} after failed start", s.id, s.instanceId);
    adaptorMetrics().failedStartsCleaned.with().inc();
    s.instanceId.clear();
    releasePeerPod(s);
  }
  s.ips.clear();
  s.phase = Phase::kFailed;
  s.lastError = reason;
  save(s);
}

Status SandboxManager::startVM(const std::string& id, Clock::time_point deadline) {
  auto t0 = Clock::now();
  const double cpu0 = processCpuMs();
  ScopeExit timed([&] { adaptorMetrics().startVm.with().observe(secondsSince(t0)); });
  auto e = find(id);
  if (!e) return fail(Code::kNotFound, "StartVM: unknown sandbox " + id);
  std::lock_guard elock(e->mu);
  SandboxState& s = e->state;
  if (s.phase == Phase::kRunning) return {};
  if (s.phase != Phase::kCreated && s.phase != Phase::kFailed) {
    return fail(Code::kFailedPrecondition,
                "StartVM: sandbox " + id + " is " + std::string(phaseName(s.phase)));
  }
  if (auto st = sweepUnknownInstance(s); !st) {
    // Creating now could make a second instance beside the one an interrupted StartVM left.
    return fail(st.error().wrap("StartVM of sandbox " + id));
  }
  s.phase = Phase::kStarting;
  s.lastError.clear();
  if (auto st = save(s); !st) return fail(st.error().wrap("StartVM"));

  providers::CreateRequest req;
  req.podName = s.podName;
  req.podNamespace = s.podNamespace;
  req.sandboxId = s.id;
  req.instanceName = s.instanceName;
  req.userData = s.userData;
  req.spec = s.spec;
  log::info("sandbox", "{}: creating pod VM {}", id, s.instanceName);
  event(s, EventType::kNormal, "CreatingPodVM",
        "Creating pod VM " + s.instanceName + describeSpec(s.spec));
  const auto tCreate = Clock::now();
  auto instance = providerCreate(req);
  if (!instance) {
    auto err = instance.error().wrap("creating pod VM " + s.instanceName);
    cleanupFailedStart(*e, err.message);
    if (providers::mayHaveBeenApplied(instance.error())) {
      // The provider should have deleted what it may have made; in case it could not (or is a
      // plugin that does not), look by the sandbox's tag now and again at StopVM.
      s.instanceUnknown = true;
      save(s);
      if (auto st = sweepUnknownInstance(s, /*last=*/false); !st)
        log::warn("sandbox", "{}: {}; StopVM will look again", id, st.error().message);
    }
    log::error("sandbox", "{}: StartVM failed: {}", id, err.message);
    event(s, EventType::kWarning, "PodVMFailed", err.message);
    return fail(std::move(err));
  }
  auto tCreated = Clock::now();
  {
    std::lock_guard lock(mu_);
    s.instanceId = instance->id;
    s.ips = instance->ips;
  }
  instanceKnown_.notify_all();
  if (kube_) {
    // The PeerPod is what lets peerpod-ctrl delete this instance if we never do.
    if (auto name = kube_->createPeerPod(s)) {
      s.peerPodName = *name;
    } else {
      log::error("sandbox", "{}: creating the PeerPod for instance {}: {}", id, s.instanceId,
                 name.error().message);
    }
  }
  save(s);
  log::info("sandbox", "{}: instance {} created, ips [{}] ({:.0f} ms)", id, s.instanceId,
            fmt::join(s.ips, ","), msSince(t0));
  event(s, EventType::kNormal, "PodVMCreated",
        fmt::format("Created pod VM {} as instance {}{} with IP {} in {:.1f} s", s.instanceName,
                    s.instanceId, describeSpec(s.spec), fmt::join(s.ips, ","), msSince(t0) / 1000));

  auto failStart = [&](Error err) -> Status {
    cleanupFailedStart(*e, err.message);
    log::error("sandbox", "{}: StartVM failed: {}", id, err.message);
    event(s, EventType::kWarning, "PodVMFailed", err.message);
    return fail(std::move(err));
  };
  if (s.ips.empty())
    return failStart(Error{Code::kInternal, "pod VM " + s.instanceId + " has no IP address"});
  if (s.network) {
    if (auto st = network_.setup(s.netnsPath, *s.network, s.ips); !st) {
      return failStart(st.error().wrap("pod network setup"));
    }
  }
  auto proxy = makeProxy(s);
  if (!proxy) return failStart(proxy.error());
  e->proxy = *proxy;
  const auto tProxy = Clock::now();
  auto ready = e->proxy->start(deadline);
  if (auto st = ready.get(); !st)
    return failStart(st.error().wrap("connecting to the pod VM's agent"));
  const auto tReady = Clock::now();

  s.phase = Phase::kRunning;
  s.startedAt = unixNow();
  // The user data (it holds the VM's TLS key) was for the create; a running sandbox never
  // sends it again, so neither this process nor state.json keeps it (bench/sandboxes).
  s.userData.clear();
  s.userData.shrink_to_fit();
  save(s);
  const auto tSaved = Clock::now();
  adaptorMetrics().agentWait.with().observe(secondsSince(tCreated));
  event(s, EventType::kNormal, "PodVMAgentConnected",
        fmt::format(
            "Connected to the kata-agent in pod VM {} ({:.1f} s after the instance was created)",
            s.instanceName, std::chrono::duration<double>(Clock::now() - tCreated).count()));
  // bench/podstart reads this line: the steps besides the provider's create and the wait for
  // the forwarder are the adaptor's own time in a pod start, and so is its CPU.
  log::info("sandbox",
            "{}: running; agent reachable {:.0f} ms after instance creation, StartVM took {:.0f} "
            "ms (before the provider {:.1f} ms, provider create {:.0f} ms, after it {:.1f} ms, "
            "listen and wait for the forwarder {:.0f} ms, final state save {:.1f} ms; adaptor "
            "process CPU meanwhile {:.1f} ms)",
            id, msSince(tCreated), msSince(t0), msBetween(t0, tCreate),
            msBetween(tCreate, tCreated), msBetween(tCreated, tProxy), msBetween(tProxy, tReady),
            msBetween(tReady, tSaved), processCpuMs() - cpu0);
  return {};
}

Status SandboxManager::stopVM(const std::string& id) {
  auto t0 = Clock::now();
  ScopeExit timed([&] { adaptorMetrics().stopVm.with().observe(secondsSince(t0)); });
  auto e = find(id);
  if (!e) {
    if (stoppedRecently(id)) {
      // A repeated StopVM (the shim's retry after a lost answer, or after this adaptor's
      // restart finished the stop in restore()): it is done.
      log::info("sandbox", "{}: StopVM again: already stopped", id);
      return {};
    }
    return fail(Code::kNotFound, "StopVM: unknown sandbox " + id);
  }
  std::unique_lock elock(e->mu);
  SandboxState& s = e->state;
  s.phase = Phase::kStopping;
  save(s);
  if (e->proxy) {
    e->proxy->shutdown();
    e->proxy.reset();
  }
  bool deleted = true;
  if (auto st = sweepUnknownInstance(s); !st) {
    // As a failed delete: the state stays (phase stopping) and a restarted adaptor looks again.
    log::error("sandbox", "{}: {}", id, st.error().message);
    s.lastError = st.error().message;
    save(s);
    deleted = false;
    event(s, EventType::kWarning, "PodVMDeleteFailed", st.error().message);
  } else if (!s.instanceId.empty()) {
    if (auto st = providerDelete(s.instanceId); !st) {
      // The state stays (phase stopping) so that restore() or peerpod-ctrl retries: StopVM
      // itself succeeds, as upstream, because the shim cannot do anything better with an error.
      log::error("sandbox", "{}: deleting instance {}: {}", id, s.instanceId, st.error().message);
      s.lastError = st.error().message;
      save(s);
      deleted = false;
      event(s, EventType::kWarning, "PodVMDeleteFailed",
            "Deleting instance " + s.instanceId + ": " + st.error().message);
    }
  }
  if (deleted) releasePeerPod(s);
  if (s.network) {
    if (auto st = network_.teardown(s.netnsPath, *s.network); !st) {
      log::warn("sandbox", "{}: pod network teardown: {}", id, st.error().message);
    }
  }
  if (!deleted) return {};
  // Before the entry goes (see createVM's abandon); a crash right after it repeats it at restore.
  if (options_.forgetSandbox) options_.forgetSandbox(id);
  // The file store removes the whole directory; the copy goes in any case, with the sandbox.
  (void)files::removeAll(apfJsonPath(id));
  store_.remove(id);
  {
    std::lock_guard lock(mu_);
    entries_.erase(id);
    tracked_.erase(id);
    stopped_.push_back(id);
    if (stopped_.size() > kStoppedRemembered) stopped_.pop_front();
  }
  log::info("sandbox", "{}: stopped, instance {} deleted ({:.0f} ms)", id,
            s.instanceId.empty() ? "-" : s.instanceId, msSince(t0));
  return {};
}

Result<std::string> SandboxManager::vmId(const std::string& podName,
                                         const std::string& podNamespace, bool wait,
                                         Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  auto lookup = [&]() -> std::string {
    for (auto& [id, e] : entries_) {
      if (e->state.podName == podName && e->state.podNamespace == podNamespace &&
          !e->state.instanceId.empty()) {
        return e->state.instanceId;
      }
    }
    return {};
  };
  while (true) {
    if (auto found = lookup(); !found.empty()) return found;
    if (!wait) return fail(Code::kNotFound, "no pod VM for pod " + podNamespace + "/" + podName);
    // Unlike upstream, the caller's deadline bounds the wait.
    if (instanceKnown_.wait_until(lock, deadline) == std::cv_status::timeout) {
      if (auto found = lookup(); !found.empty()) return found;
      return fail(Code::kDeadlineExceeded,
                  "timed out waiting for the pod VM of " + podNamespace + "/" + podName);
    }
  }
}

Status SandboxManager::sweepUnknownInstance(SandboxState& s, bool last) {
  if (!s.instanceUnknown) return {};
  auto listed = providerList(s.id);
  if (!listed) {
    if (listed.error().code == Code::kUnimplemented) {
      // Nothing more can be done here; the PeerPod-less instance is the operator's to find.
      log::warn("sandbox",
                "{}: the provider cannot list instances; check the cloud for a leftover instance "
                "named {} from an interrupted StartVM",
                s.id, s.instanceName);
      s.instanceUnknown = false;
      save(s);
      return {};
    }
    return fail(listed.error().wrap("looking for the instance of an interrupted StartVM (" +
                                    s.instanceName + ")"));
  }
  for (const auto& instance : *listed) {
    if (auto st = providerDelete(instance.id); !st) {
      return fail(st.error().wrap("deleting instance " + instance.id + " (" + instance.name +
                                  ") left by an interrupted StartVM"));
    }
    adaptorMetrics().leftovers.with().inc();
    log::info("sandbox", "{}: deleted instance {} ({}) left by an interrupted StartVM", s.id,
              instance.id, instance.name);
    event(s, EventType::kNormal, "PodVMLeftoverDeleted",
          "Deleted instance " + instance.id + " (" + instance.name +
              "), created by a StartVM that the adaptor's restart interrupted");
  }
  if (listed->empty()) {
    log::info("sandbox", "{}: no instance of the interrupted StartVM ({}) exists{}", s.id,
              s.instanceName, last ? "" : " yet; StartVM or StopVM will look again");
  }
  if (last) {
    s.instanceUnknown = false;
    save(s);
  }
  return {};
}

bool SandboxManager::stoppedRecently(const std::string& id) const {
  std::lock_guard lock(mu_);
  return std::find(stopped_.begin(), stopped_.end(), id) != stopped_.end();
}

int SandboxManager::retryStopping() {
  std::vector<std::pair<std::string, std::shared_ptr<Entry>>> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, e] : entries_) all.emplace_back(id, e);
  }
  int retried = 0;
  for (auto& [id, e] : all) {
    {
      std::unique_lock elock(e->mu, std::try_to_lock);
      if (!elock.owns_lock() || e->state.phase != Phase::kStopping) continue;  // busy or not ours
    }
    log::info("sandbox", "{}: retrying the StopVM whose instance delete failed", id);
    stopVM(id);
    ++retried;
  }
  return retried;
}

int SandboxManager::restore() {
  std::vector<std::string> problems;
  auto states = store_.loadAll(&problems);
  for (auto& p : problems) log::warn("sandbox", "skipping unreadable sandbox state: {}", p);
  int reattached = 0;
  for (auto& st : states) {
    auto e = std::make_shared<Entry>();
    e->state = std::move(st);
    SandboxState& s = e->state;
    {
      std::lock_guard lock(mu_);
      entries_[s.id] = e;
      tracked_[s.id] = {s.phase, s.network.has_value() && !s.ips.empty()};
    }
    if (s.network) network_.reserve(*s.network);
    switch (s.phase) {
      case Phase::kCreated:
      case Phase::kFailed:
        log::info("sandbox", "{}: restored in phase {}", s.id, phaseName(s.phase));
        break;
      case Phase::kRunning: {
        auto proxy = makeProxy(s);
        if (!proxy) {
          log::error("sandbox", "{}: cannot rebuild agent proxy: {}", s.id, proxy.error().message);
          break;
        }
        e->proxy = *proxy;
        if (auto r = e->proxy->listenOnly().get(); !r) {
          log::error("sandbox", "{}: cannot listen on {}: {}", s.id, agentSocketPath(s.id),
                     r.error().message);
          break;
        }
        ++reattached;
        adaptorMetrics().reattached.with().inc();
        log::info("sandbox", "{}: reattached to instance {} ({})", s.id, s.instanceId,
                  s.instanceName);
        if (kube_ && s.peerPodName.empty() && !s.instanceId.empty()) {
          // Its PeerPod could not be created at StartVM (API server down?): try again, so
          // that peerpod-ctrl can clean up if this adaptor never does.
          if (auto name = kube_->createPeerPod(s)) {
            s.peerPodName = *name;
            save(s);
          } else {
            log::warn("sandbox", "{}: still no PeerPod for instance {}: {}", s.id, s.instanceId,
                      name.error().message);
          }
        }
        event(s, EventType::kNormal, "PodVMReattached",
              "cloud-api-adaptor restarted and took pod VM " + s.instanceName + " (instance " +
                  s.instanceId + ") back over; the pod keeps running");
        break;
      }
      case Phase::kStarting: {
        // The adaptor died during StartVM: the shim saw it fail; do not leave the VM behind.
        std::lock_guard elock(e->mu);
        if (s.instanceId.empty()) {
          // It died inside the provider's create: the instance may exist without its id.
          log::warn("sandbox",
                    "{}: was starting instance {} when the adaptor stopped; its id is unknown, "
                    "looking for it by the sandbox's tag",
                    s.id, s.instanceName);
          s.phase = Phase::kFailed;
          s.lastError = "adaptor restarted during StartVM";
          s.instanceUnknown = true;
          save(s);
          if (auto st = sweepUnknownInstance(s, /*last=*/false); !st) {
            log::warn("sandbox", "{}: {}; StartVM and StopVM of this sandbox will look again", s.id,
                      st.error().message);
          }
        } else {
          cleanupFailedStart(*e, "adaptor restarted during StartVM");
        }
        break;
      }
      case Phase::kStopping:
        log::info("sandbox", "{}: finishing an interrupted StopVM", s.id);
        stopVM(s.id);
        break;
    }
  }
  return reattached;
}

void SandboxManager::shutdown() {
  std::vector<std::shared_ptr<Entry>> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, e] : entries_) all.push_back(e);
  }
  for (auto& e : all) {
    std::lock_guard elock(e->mu);
    if (e->proxy) {
      e->proxy->shutdown();
      e->proxy.reset();
    }
  }
}

}  // namespace pp::adaptor
