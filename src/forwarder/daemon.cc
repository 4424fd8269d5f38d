#include <unistd.h>

#include "base/files.h"
#include "base/log.h"
#include "base/sd_notify.h"
#include "forwarder/forwarder.h"
#include "net/metrics_server.h"

namespace pp::forwarder {
namespace {

constexpr char kLog[] = "forwarder";

// A PEM file named on the command line, else what apf.json carries.
Result<std::string> pemFrom(const std::string& file, const std::string& fromApf, const char* what) {
  if (file.empty()) return fromApf;
  auto pem = files::readFile(file, 1u << 20);
  if (!pem) return fail(pem.error().wrap(what));
  return pem;
}

}  // namespace

Result<std::shared_ptr<asio::ssl::context>> makeServerContext(const std::string& certPem,
                                                              const std::string& keyPem,
                                                              const std::string& clientCaPem,
                                                              const net::TlsProfile& profile) {
  if (certPem.empty() || keyPem.empty()) {
    return fail(Code::kInvalidArgument, "TLS needs a server certificate and key");
  }
  if (clientCaPem.empty()) {
    return fail(Code::kInvalidArgument, "TLS needs a client CA to authenticate clients with");
  }
  return net::makeServerContext(
      {.certPem = certPem, .keyPem = keyPem, .clientCaPem = clientCaPem, .profile = profile});
}

Daemon::Daemon(Options options) : options_(std::move(options)) {}

Daemon::~Daemon() {
  stop();
}

Status Daemon::start() {
  auto listen = parseListenAddress(options_.listen);
  if (!listen) return fail(listen.error().wrap("-listen"));
  std::optional<std::pair<std::string, uint16_t>> metricsListen;
  if (!options_.metricsListen.empty()) {
    auto m = parseListenAddress(options_.metricsListen);
    if (!m) return fail(m.error().wrap("-metrics-listen"));
    metricsListen = *m;
  }
  auto config = apf::ApfConfig::load(options_.configPath);
  if (!config) return fail(config.error());
  // config->podNamespace names the pod's Kubernetes namespace, not a path in the VM.
  podNamespace_ = options_.podNamespace;

  // Secure comms: -secure-comms (keys from the key broker) or apf.json's "sc" (keys in
  // apf.json). The agent port then serves only the SSH tunnel's local end, without TLS.
  const bool secureComms = options_.secureComms || config->secureComms;
  if (secureComms && listen->first != "127.0.0.1") {
    log::info(kLog, "Address {} is changed to 127.0.0.1:{} since secure-comms is enabled.",
              options_.listen, listen->second);
    listen->first = "127.0.0.1";
  }
  std::shared_ptr<asio::ssl::context> tls;
  if (secureComms) {
    // The SSH link encrypts and authenticates; the port is on loopback only.
  } else if (options_.disableTls) {
    log::warn(kLog,
              "-disable-tls: agent traffic is neither encrypted nor authenticated; use it only for "
              "tests");
  } else {
    auto cert = pemFrom(options_.certFile, config->tlsServerCert, "-cert-file");
    auto key = cert ? pemFrom(options_.certKey, config->tlsServerKey, "-cert-key") : cert;
    auto ca = key ? pemFrom(options_.caCertFile, config->tlsClientCa, "-ca-cert-file") : key;
    if (!ca) return fail(ca.error());
    if (cert->empty() || key->empty()) {
      return fail(Code::kInvalidArgument,
                  "no TLS server certificate: give -cert-file and -cert-key, or tls-server-cert "
                  "and tls-server-key "
                  "in " +
                      options_.configPath + " (or -disable-tls for tests)");
    }
    // Fail closed: whoever reaches this port may run anything in the VM, so clients are always
    // authenticated when TLS is on. The adaptor always sends tls-client-ca with its server
    // certificate.
    if (ca->empty()) {
      return fail(Code::kInvalidArgument,
                  "no client CA: give -ca-cert-file, or tls-client-ca in " + options_.configPath +
                      " (or -disable-tls for tests); clients must be authenticated");
    }
    if (options_.tlsSkipVerify) {
      log::warn(kLog,
                "-tls-skip-verify has no effect on agent-protocol-forwarder: client certificates "
                "are always verified against the client CA");
    }
    // Upstream's adaptor bakes its TLS profile into apf.json; the forwarder has no flags for it.
    auto profile = net::parseTlsProfile(config->tlsMinVersion, config->tlsCipherSuites);
    if (!profile) {
      return fail(
          profile.error().wrap("tls-min-version/tls-cipher-suites in " + options_.configPath));
    }
    auto ctx = makeServerContext(*cert, *key, *ca, *profile);
    if (!ctx) return fail(ctx.error());
    tls = std::move(*ctx);
  }

  if (options_.noPodNetwork) {
    log::info(kLog, "-no-pod-network: not setting up the pod network");
  } else if (!config->podNetwork) {
    log::info(kLog, "{} has no pod-network: not setting up the pod network", options_.configPath);
  } else {
    if (auto st = ensureNetns(podNamespace_); !st) return st;
    podnetwork::PodNodeOptions po;
    po.hostInterface = options_.hostInterface;
    auto node = podnetwork::PodNode::create(po);
    if (!node) return fail(node.error().wrap("pod network"));
    if (auto st = (*node)->setup(*config->podNetwork, podNamespace_); !st)
      return fail(st.error().wrap("pod network setup"));
    podNode_ = std::move(*node);
    network_ = config->podNetwork;
    log::info(kLog, "pod network of {}/{} set up in {}", config->podNamespace,
              config->podName.empty() ? "the pod" : config->podName, podNamespace_);
  }

  io_ = std::make_unique<ttrpc::IoThread>();
  ForwarderOptions fo;
  fo.agentSocket = options_.agentSocket;
  fo.podNamespace = podNamespace_;
  fo.listen.maxHandshakes = options_.maxPendingHandshakes;
  fo.listen.handshakeTimeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.handshakeTimeout);
  fo.server.idleTimeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.idleTimeout);
  forwarder_ = AgentForwarder::create(io_->executor(), fo);
  std::string host = listen->first;
  uint16_t port = listen->second;
  auto listening =
      io_->run([&]() -> asio::awaitable<Status> { co_return forwarder_->listen(host, port, tls); });
  if (!listening) {
    stop();
    return fail(listening.error());
  }
  if (secureComms) {
    securecomms::PodSideOptions so = options_.secureCommsSettings;
    so.keysFromKbs = options_.secureComms;
    so.ppPrivateKey = config->ppPrivateKey;
    so.wnPublicKey = config->wnPublicKey;
    so.flagInbounds = options_.secureCommsInbounds;
    so.flagOutbounds = options_.secureCommsOutbounds;
    so.apfInbounds = config->secureCommsInbounds;
    so.apfOutbounds = config->secureCommsOutbounds;
    so.forwarderPort = forwarder_->port();
    // api-server-rest listens in the pod's network namespace (-pod-namespace).
    if (so.keyFetchNetns == securecomms::PodSideOptions{}.keyFetchNetns) {
      so.keyFetchNetns = podNamespace_;
    }
    auto ssh = securecomms::startPodSide(so);
    if (!ssh) {
      stop();
      return fail(ssh.error().wrap("secure comms"));
    }
    sshServer_ = std::move(*ssh);
  }
  if (metricsListen) {
    if (auto st = startMetrics(metricsListen->first, metricsListen->second); !st) {
      stop();
      return fail(st.error().wrap("-metrics-listen"));
    }
  }
  started_ = true;
  log::info(kLog, "listening on {}:{} ({}), relaying to kata-agent at {}", host, forwarder_->port(),
            tls ? "TLS" : (secureComms ? "behind secure comms" : "plain TCP"),
            options_.agentSocket);
  sdNotify("READY=1");
  return {};
}

uint16_t Daemon::port() const {
  return forwarder_ ? forwarder_->port() : 0;
}

uint16_t Daemon::metricsPort() const {
  return metricsServer_ ? metricsServer_->port() : 0;
}

Status Daemon::startMetrics(const std::string& host, uint16_t port) {
  auto& r = metrics::global();
  std::weak_ptr<AgentForwarder> weak = forwarder_;
  connectsGauge_ = r.gaugeCallback(
      "peerpods_forwarder_agent_connects", "Connections made to the kata-agent's socket.", {},
      [weak] {
        auto f = weak.lock();
        return metrics::GaugeSamples{{{}, f ? static_cast<double>(f->agentConnects()) : 0}};
      });
  handshakesGauge_ = r.gaugeCallback(
      "peerpods_forwarder_connections",
      "Connections from the adaptor: being served, or still in their TLS handshake.", {"state"},
      [weak] {
        auto f = weak.lock();
        return metrics::GaugeSamples{
            {{"serving"}, f ? static_cast<double>(f->connections()) : 0},
            {{"handshake"}, f ? static_cast<double>(f->pendingHandshakes()) : 0}};
      });
  auto s = net::startMetricsServer(host, port, r);
  if (!s) return fail(s.error());
  metricsServer_ = std::move(*s);
  log::info(kLog, "metrics on {}:{}/metrics", host.empty() ? "*" : host, metricsServer_->port());
  return {};
}

void Daemon::stop() {
  if (started_) sdNotify("STOPPING=1");
  started_ = false;
  if (sshServer_) sshServer_->stop();
  sshServer_.reset();
  if (metricsServer_) metricsServer_->stop();
  metricsServer_.reset();
  connectsGauge_.reset();
  handshakesGauge_.reset();
  if (io_) {
    auto forwarder = forwarder_;
    io_->run([forwarder]() -> asio::awaitable<void> {
      if (forwarder) forwarder->shutdown();
      co_return;
    });
    io_->stop();
    io_.reset();
  }
  forwarder_.reset();
  if (podNode_ && network_) {
    if (auto st = podNode_->teardown(*network_, podNamespace_); !st) {
      log::warn(kLog, "pod network teardown: {}", st.error().message);
    }
  }
  podNode_.reset();
  network_.reset();
}

}  // namespace pp::forwarder
