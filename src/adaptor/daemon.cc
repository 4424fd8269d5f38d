#include "adaptor/daemon.h"

#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <future>
#include <mutex>

#include "adaptor/vxlan_pod_network.h"
#include "base/files.h"
#include "base/log.h"
#include "base/sd_notify.h"
#include "cloudinit/initdata.h"
#include "net/host_port.h"
#include "net/metrics_server.h"

namespace pp::adaptor {
namespace {

// A sandbox's agent proxy over secure comms: an SSH client to the pod VM, and the AgentProxy
// dialling the local end of its KATAAGENT tunnel (plain TCP: SSH encrypts and authenticates).
class SecureCommsProxy final : public SandboxProxy,
                               public std::enable_shared_from_this<SecureCommsProxy> {
 public:
  SecureCommsProxy(std::shared_ptr<securecomms::NodeSide> node, asio::any_io_executor io,
                   AgentProxyOptions options)
      : node_(std::move(node)), io_(std::move(io)), options_(std::move(options)) {}

  std::future<Status> start(Clock::time_point readyBy) override {
    return std::async(std::launch::async, [self = shared_from_this(), readyBy]() -> Status {
      std::shared_ptr<AgentProxy> inner;
      std::shared_ptr<securecomms::SshClient> client;
      if (auto st = self->connect(false, &inner, &client); !st) return st;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(readyBy - Clock::now());
      if (auto st = client->waitKubernetesPhase(std::max(left, std::chrono::milliseconds(1)));
          !st) {
        return fail(st.error().wrap("secure comms to " + self->options_.vmHost));
      }
      return inner->start(readyBy).get();
    });
  }

  std::future<Status> listenOnly() override {
    std::shared_ptr<AgentProxy> inner;
    std::shared_ptr<securecomms::SshClient> client;
    if (auto st = connect(true, &inner, &client); !st) {
      std::promise<Status> p;
      p.set_value(fail(st.error()));
      return p.get_future();
    }
    return inner->listenOnly();
  }

  void shutdown() override {
    std::shared_ptr<AgentProxy> inner;
    std::shared_ptr<securecomms::SshClient> client;
    {
      std::lock_guard lock(mu_);
      inner = inner_;
      client = client_;
    }
    if (inner) inner->shutdown();
    if (client) client->stop();
  }

 private:
  Status connect(bool restored, std::shared_ptr<AgentProxy>* inner,
                 std::shared_ptr<securecomms::SshClient>* client) {
    auto c = node_->connect(options_.sandboxId, options_.vmHost, restored);
    if (!c) return fail(c.error().wrap("secure comms"));
    std::shared_ptr<securecomms::SshClient> sc(std::move(*c));
    AgentProxyOptions po = options_;
    po.vmHost = "127.0.0.1";
    po.vmPort = sc->inboundPort(securecomms::kAgentTunnel).value_or(0);
    po.tls = nullptr;
    auto proxy = AgentProxy::create(io_, std::move(po));
    std::lock_guard lock(mu_);
    inner_ = proxy;
    client_ = sc;
    *inner = proxy;
    *client = sc;
    return {};
  }

  std::shared_ptr<securecomms::NodeSide> node_;
  asio::any_io_executor io_;
  AgentProxyOptions options_;
  std::mutex mu_;
  std::shared_ptr<AgentProxy> inner_;
  std::shared_ptr<securecomms::SshClient> client_;
};

// The production SandboxProxy without secure comms lives in sandbox_manager.cc; with it the
// factory wraps the AgentProxy as above.
class PlainRelay final : public SandboxProxy {
 public:
  explicit PlainRelay(std::shared_ptr<AgentProxy> proxy) : proxy_(std::move(proxy)) {}
  std::future<Status> start(Clock::time_point readyBy) override { return proxy_->start(readyBy); }
  std::future<Status> listenOnly() override { return proxy_->listenOnly(); }
  void shutdown() override { proxy_->shutdown(); }

 private:
  std::shared_ptr<AgentProxy> proxy_;
};

// How often StopVMs whose instance delete failed are retried.
constexpr std::chrono::seconds kStopRetryInterval{30};

std::string envOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

// Who this adaptor is, for the node owner annotation: the pod's UID from the downward API, as
// upstream. Manifests that pass only POD_NAME still get an owner check (DaemonSet pods have
// unique names); outside a pod, host name and process id.
std::string adaptorIdentity() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return envOr("POD_UID", envOr("POD_NAME", std::string(host) + "-" + std::to_string(::getpid())));
}

// The settings read from the environment outside the flag set (the downward API's identity,
// Kubernetes names) get the flag set's placeholder check: a manifest that still says
// REPLACE_ME stops the start, naming the variable.
Status checkEnvironment() {
  for (const char* name : {"NODE_NAME", "POD_UID", "POD_NAME", "POD_NAMESPACE", "RUNTIMECLASS_NAME",
                           "CLOUD_PROVIDER"}) {
    if (envOr(name, "").find(flags::kPlaceholder) != std::string::npos) {
      return fail(Code::kInvalidArgument,
                  fmt::format("environment variable {} still holds the placeholder {}: set it to "
                              "a real value",
                              name, flags::kPlaceholder));
    }
  }
  return {};
}

}  // namespace

Daemon::Daemon(AdaptorConfig config, std::unique_ptr<providers::Provider> provider)
    : config_(std::move(config)), provider_(std::move(provider)) {}

Daemon::~Daemon() {
  stop();
}

Status Daemon::start() {
  if (auto st = config_.validate(); !st) return st;
  if (auto st = checkEnvironment(); !st) return st;
  if (config_.cloudConfigVerify) {
    // Upstream returns success here and then hangs unready; we stop with the reason.
    if (auto st = provider_->verifyConfig(); !st)
      return fail(st.error().wrap("cloud provider configuration check failed"));
    log::info("adaptor", "cloud provider configuration verified");
  }
  ManagerOptions mo;
  mo.podsDir = config_.podsDir;
  mo.providerName = config_.providerName;
  mo.forwarderPort = static_cast<uint16_t>(config_.forwarderPort);
  mo.proxyTimeout = std::chrono::duration_cast<std::chrono::milliseconds>(config_.proxyTimeout);
  // Secure comms replaces TLS: SSH encrypts and authenticates the agent traffic.
  const bool tlsOff = config_.disableTls || config_.secureComms;
  mo.disableTls = tlsOff;
  mo.tlsSkipVerify = config_.tlsSkipVerify;
  if (config_.secureComms) {
    mo.prepareApf = [this](const std::string& id, apf::ApfConfig& apf) -> Status {
      if (!secureComms_) return fail(Code::kUnavailable, "secure comms not started");
      return secureComms_->prepareApf(id, apf);
    };
    // Every path that finally deletes a sandbox's instance ends here (restore and the retry of
    // failed deletes included), so no pp-<id> secret outlives its pod VM.
    mo.forgetSandbox = [this](const std::string& id) {
      if (!secureComms_) return;
      if (auto st = secureComms_->forget(id); !st) {
        log::warn("adaptor", "{}: deleting secure comms secret: {}", id, st.error().message);
      }
    };
  }
  if (!tlsOff) {
    mo.tlsMinVersion = config_.tlsMinVersion;
    mo.tlsCipherSuites = config_.tlsCipherSuiteList();
    if (!mo.tlsMinVersion.empty() || !config_.tlsCipherSuites.empty()) {
      log::warn("adaptor",
                "TLS profile (TLS_MIN_VERSION={}, TLS_CIPHER_SUITES={}) goes into each pod VM's "
                "user data when it is created: pod VMs that exist keep the profile they were "
                "created with until they are recreated",
                config_.tlsMinVersion, config_.tlsCipherSuites);
    }
  }
  mo.enableScratchSpace = config_.enableScratchSpace;
  if (!config_.initdata.empty()) {
    auto init = cloudinit::normaliseInitdata(config_.initdata);
    if (!init) return fail(init.error().wrap("-initdata"));
    mo.initdata = *init;
  }
  auto images = providers::ImagePolicy::parse(config_.allowedImages);
  if (!images) return fail(images.error());
  mo.allowedImages = std::move(*images);
  if (!mo.allowedImages.restricted()) {
    log::warn("adaptor",
              "-allowed-images is not set: a pod may name any image its provider can reach in the "
              "io.katacontainers.config.hypervisor.image annotation (upstream's behaviour)");
  } else {
    log::info("adaptor", "the image annotation may name: {}",
              fmt::join(mo.allowedImages.patterns(), ", "));
  }
  if (auto st = files::makeDirs(config_.podsDir, 0755); !st) return st;

  if (config_.secureComms) {
    log::info("adaptor", "secure comms: agent traffic to pod VMs runs through SSH on port {}",
              securecomms::kSshPort);
  } else if (!config_.disableTls) {
    // Kept beside the sandboxes so that a restarted adaptor still talks to its VMs.
    auto issuer = OpensslCertIssuer::loadOrCreate(config_.podsDir + "/.tls");
    if (!issuer) return fail(issuer.error().wrap("TLS material"));
    issuer_ = std::move(*issuer);
    if (auto st = issuer_->useFiles(config_.caCertFile, config_.certFile, config_.certKey); !st)
      return st;
  } else {
    log::warn("adaptor",
              "-disable-tls: agent traffic to pod VMs is not encrypted or authenticated");
  }

  if (network_) {
    // Given by the caller (tests).
  } else if (::geteuid() == 0) {
    podnetwork::WorkerNodeOptions wo;
    wo.hostInterface = config_.hostInterface;
    wo.vxlanPort = static_cast<int>(config_.vxlanPort);
    wo.podSubnetCidrs = config_.podSubnetCidrs;
    wo.externalNetViaPodVm = config_.extNetworkViaPodvm;
    auto net = VxlanPodNetwork::create(wo, static_cast<uint32_t>(config_.vxlanMinId));
    if (!net) return fail(net.error().wrap("pod network"));
    network_ = std::move(*net);
  } else {
    log::warn("adaptor", "not running as root: pod network tunnels are disabled");
    network_ = std::make_unique<NoPodNetwork>();
  }

  io_ = std::make_unique<ttrpc::IoThread>();
  workers_ = std::make_unique<ElasticPool>(ElasticPool::Options{.maxThreads = config_.workers});
  store_ = std::make_unique<FileStateStore>(config_.podsDir);
  ProxyFactory proxies;
  if (config_.secureComms) {
    proxies = [this, io = io_->executor()](AgentProxyOptions po) -> std::shared_ptr<SandboxProxy> {
      if (!secureComms_) return std::make_shared<PlainRelay>(AgentProxy::create(io, std::move(po)));
      return std::make_shared<SecureCommsProxy>(secureComms_, io, std::move(po));
    };
  }
  manager_ = std::make_unique<SandboxManager>(mo, *provider_, *store_, *network_, issuer_.get(),
                                              io_->executor(), std::move(proxies));
  if (auto st = startKube(); !st) return st;
  if (config_.secureComms) {
    if (auto st = startSecureComms(); !st) return st;
  }
  if (kube_) manager_->setKubeHooks(kube_.get());
  int reattached = manager_->restore();
  stopRetrier_ = std::jthread([m = manager_.get()](std::stop_token stop) {
    std::mutex mu;
    std::condition_variable_any cv;
    std::unique_lock lock(mu);
    while (!cv.wait_for(lock, stop, kStopRetryInterval, [] { return false; })) {
      if (stop.stop_requested()) return;
      m->retryStopping();
    }
  });
  if (manager_->sandboxCount() > 0) {
    log::info("adaptor", "restored {} sandboxes from {} ({} reattached to running pod VMs)",
              manager_->sandboxCount(), config_.podsDir, reattached);
  }
  server_ = std::make_unique<ttrpc::Server>();
  service_ = std::make_unique<HypervisorService>(*manager_, *workers_);
  service_->registerWith(*server_);
  auto* server = server_.get();
  auto socket = config_.socket;
  auto l = io_->run([&]() -> asio::awaitable<Result<std::unique_ptr<ttrpc::Listener>>> {
    co_return ttrpc::listenUnix(
        io_->executor(), socket,
        [server](std::unique_ptr<ttrpc::ByteStream> s) { server->serveConnection(std::move(s)); });
  });
  if (!l) return fail(l.error());
  listener_ = std::move(*l);
  log::info("adaptor", "serving hypervisor.Hypervisor and podvminfo.PodVMInfo on {}",
            config_.socket);
  if (config_.probeRequested) {
    std::function<std::string()> podsNotReady;
    if (kubeClient_ && !envOr("NODE_NAME", "").empty()) {
      podsReadiness_ = std::make_shared<PodsReadiness>(kubeClient_, envOr("NODE_NAME", ""),
                                                       envOr("RUNTIMECLASS_NAME", "kata-remote"));
      podsNotReady = [w = std::weak_ptr<PodsReadiness>(podsReadiness_)]() -> std::string {
        auto r = w.lock();
        return r ? r->notReadyReason() : "stopping";
      };
    }
    auto probe =
        StartupProbe::start(static_cast<uint16_t>(config_.probePort), config_.socket, podsNotReady);
    if (!probe) return fail(probe.error());
    probe_ = std::move(*probe);
    log::info("adaptor", "startup probe on {}/startup (and /metrics)", probe_->baseUrl());
  }
  if (!config_.metricsListen.empty()) {
    auto address = net::parseHostPort(config_.metricsListen);
    if (!address) return fail(address.error().wrap("-metrics-listen"));
    auto server = net::startMetricsServer(address->first, address->second, metrics::global());
    if (!server) return fail(server.error().wrap("-metrics-listen " + config_.metricsListen));
    metricsServer_ = std::move(*server);
    log::info("adaptor", "metrics on {}:{}/metrics", address->first, metricsServer_->port());
  }
  sdNotify("READY=1");
  return {};
}

Status Daemon::startSecureComms() {
  securecomms::NodeSideOptions so;
  so.noTrustee = config_.secureCommsNoTrustee;
  so.inbounds = config_.secureCommsInbounds;
  so.outbounds = config_.secureCommsOutbounds;
  so.ppInbounds = config_.secureCommsPpInbounds;
  so.ppOutbounds = config_.secureCommsPpOutbounds;
  so.kbsAddress = config_.secureCommsKbs;
  std::unique_ptr<securecomms::KeyStore> store;
  if (kubeClient_) {
    store = securecomms::kubeKeyStore(kubeClient_);
  } else {
    // Upstream needs the Kubernetes API for its secrets; without one (local runs) the key
    // pairs are files beside the sandboxes' state.
    std::string dir = config_.podsDir + "/.securecomms";
    log::warn("adaptor", "secure comms: no Kubernetes API, SSH key pairs are kept in {}", dir);
    store = securecomms::fileKeyStore(dir);
  }
  auto node = securecomms::NodeSide::create(so, std::move(store));
  if (!node) return fail(node.error().wrap("secure comms"));
  secureComms_ = std::move(*node);
  return {};
}

Status Daemon::startKube() {
  std::string nodeName = envOr("NODE_NAME", "");
  Result<k8s::ClientConfig> config =
      kubeConfig_ ? Result<k8s::ClientConfig>(*kubeConfig_) : k8s::defaultConfig();
  if (!config) {
    if (nodeName.empty()) {
      log::info("adaptor",
                "Kubernetes integration off (no PeerPods, Events, node capacity or "
                "image-pull secrets): {}",
                config.error().message);
    } else {
      log::warn("adaptor",
                "NODE_NAME is set but the Kubernetes API is not reachable, so PeerPods, "
                "Events, node capacity and image-pull secrets are off: {}",
                config.error().message);
    }
    return {};
  }
  // Kubernetes calls sit in CreateVM/StartVM: a slow API server must not eat the shim's budget.
  config->timeout = std::min(config->timeout, std::chrono::milliseconds(10000));
  KubeOpsOptions ko;
  ko.cloudProvider = envOr("CLOUD_PROVIDER", config_.providerName);
  ko.nodeName = nodeName;
  ko.ownerId = adaptorIdentity();
  auto client = std::make_shared<const k8s::Client>(std::move(*config));
  kubeClient_ = client;
  kube_ = std::make_unique<KubeOps>(client, ko);
  log::info("adaptor",
            "Kubernetes API {}: PeerPods (cloudProvider {}), Events, image-pull secrets{}",
            client->config().server, ko.cloudProvider,
            nodeName.empty() ? "; NODE_NAME unset, so no node capacity"
                             : ", capacity of node " + nodeName);
  // As upstream, before the socket opens, and a failure stops the start.
  return kube_->advertiseCapacity(config_.peerpodsLimitPerNode);
}

void Daemon::stop() {
  if (stopped_ || !io_) return;
  stopped_ = true;
  sdNotify("STOPPING=1");
  log::info("adaptor", "shutting down: pod VMs keep running, their state stays in {}",
            config_.podsDir);
  listener_.reset();
  stopRetrier_ = {};  // requests stop and joins
  if (probe_) probe_->stop();
  if (metricsServer_) metricsServer_->stop();
  podsReadiness_.reset();
  if (server_) server_->shutdown();
  if (manager_) manager_->shutdown();
  if (workers_) workers_->join();
  if (kube_) {
    kube_->withdrawCapacity();
    kube_->flushEvents();
  }
  if (provider_) {
    if (auto st = provider_->teardown(); !st)
      log::warn("adaptor", "provider teardown: {}", st.error().message);
  }
  io_->stop();
  std::error_code ec;
  ::unlink(config_.socket.c_str());
}

}  // namespace pp::adaptor
