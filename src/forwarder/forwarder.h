// agent-protocol-forwarder: the pod VM's end of the agent connection (upstream's pkg/forwarder).
// It serves the kata agent protocol on TCP 15150 with mutual TLS and relays every call, as
// bytes, to kata-agent's unix socket; it builds the pod network inside the pod namespace from
// apf.json (src/apf) and puts containers into that namespace.
//
//   cloud-api-adaptor proxy ==TLS :15150==> AgentForwarder --unix--> kata-agent
//
// Only CreateSandbox (DNS dropped, the VM keeps its resolv.conf) and CreateContainer (network
// namespace added, bind sources created, CSI volume mounts awaited) are decoded and edited;
// everything else, including RPCs newer than us, passes through unchanged.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ssl/context.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apf/apf_config.h"
#include "base/error.h"
#include "base/flags.h"
#include "base/metrics.h"
#include "net/host_port.h"
#include "net/http_server.h"
#include "net/tls.h"
#include "podnetwork/pod_node.h"
#include "securecomms/pod_side.h"
#include "ttrpc/client.h"
#include "ttrpc/io_thread.h"
#include "ttrpc/listener.h"
#include "ttrpc/redialer.h"
#include "ttrpc/server.h"

namespace pp::forwarder {

inline constexpr const char* kDefaultConfigPath = apf::kApfJsonPath;
inline constexpr char kDefaultListen[] = "0.0.0.0:15150";
inline constexpr char kDefaultAgentSocket[] = "/run/kata-containers/agent.sock";
inline constexpr char kDefaultPodNamespace[] = "/run/netns/podns";
// Limits on what a client can make the forwarder hold (see ttrpc::TcpListenOptions and
// ttrpc::ServerOptions); flags below change the first three.
inline constexpr size_t kDefaultMaxPendingHandshakes = 64;
inline constexpr std::chrono::seconds kDefaultHandshakeTimeout{10};
// The adaptor keeps one connection per pod; while the pod runs a call is usually open on it
// (WaitProcess) or comes often (the shim's checks). A connection with nothing in flight for
// this long is taken as abandoned and closed; the adaptor re-dials on its next call if not.
inline constexpr std::chrono::minutes kDefaultIdleTimeout{10};

inline constexpr char kTargetPathAnnotation[] =
    "io.confidentialcontainers.org.peerpodvolumes.target_path";

// ---------------------------------------------------------------------------------------------
// Command line (upstream's flags, no environment variables) plus -no-pod-network.

struct Options {
  bool version = false;
  std::string configPath = kDefaultConfigPath;
  std::string listen = kDefaultListen;
  std::string agentSocket = kDefaultAgentSocket;
  // The pod's network namespace in the VM. Only this flag sets it: apf.json's "pod-namespace"
  // is the pod's Kubernetes namespace, as upstream's adaptor writes it.
  std::string podNamespace = kDefaultPodNamespace;
  std::string hostInterface;
  std::string caCertFile;
  std::string certFile;
  std::string certKey;
  bool tlsSkipVerify = false;
  bool disableTls = false;
  bool secureComms = false;
  std::string secureCommsInbounds;
  std::string secureCommsOutbounds;
  bool noPodNetwork = false;
  // Ours, not upstream's.
  uint64_t maxPendingHandshakes = kDefaultMaxPendingHandshakes;
  std::chrono::nanoseconds handshakeTimeout = kDefaultHandshakeTimeout;
  std::chrono::nanoseconds idleTimeout = kDefaultIdleTimeout;
  // host:port for GET /metrics (Prometheus text format); empty: no metrics listener.
  std::string metricsListen;
  // Secure comms (with -secure-comms, or apf.json's "sc"): the SSH server's settings that are
  // not flags (paths, ports; tests change them).
  securecomms::PodSideOptions secureCommsSettings;

  void registerFlags(flags::FlagSet& fs);
};

// "host:port", "[v6]:port" or ":port" (all addresses).
inline Result<std::pair<std::string, uint16_t>> parseListenAddress(std::string_view text) {
  return net::parseHostPort(text);
}

// ---------------------------------------------------------------------------------------------
// TLS.

// Server context (net::makeServerContext): TLS 1.2+, the given certificate and key, and clients
// must present a certificate the client CA signed. There is no mode without client authentication:
// the agent API runs anything in the VM, so an empty CA is INVALID_ARGUMENT. `profile` is
// upstream's TLS profile from apf.json (default: TLS 1.2+, OpenSSL's suites).
Result<std::shared_ptr<asio::ssl::context>> makeServerContext(const std::string& certPem,
                                                              const std::string& keyPem,
                                                              const std::string& clientCaPem,
                                                              const net::TlsProfile& profile = {});

// ---------------------------------------------------------------------------------------------
// Request edits (upstream's interceptor).

// Clears CreateSandboxRequest.dns: the pod VM keeps its own resolv.conf (upstream issue #98).
Result<std::string> editCreateSandbox(std::string_view payload);

struct ContainerEdit {
  std::string payload;  // the request to send on
  std::string containerId;
  std::vector<std::string> bindSources;  // sources of "bind" mounts (created when missing)
  std::vector<std::string> waitTargets;  // CSI volume paths that must be mounted first
};

// Adds (or corrects) the network namespace of OCI.Linux.Namespaces to podNamespace and collects
// what has to exist before the agent may create the container. Unknown fields are kept.
Result<ContainerEdit> editCreateContainer(std::string_view payload,
                                          const std::string& podNamespace);

// mkdir -p for every path that does not exist yet.
Status createBindSources(const std::vector<std::string>& sources);

// Mount points listed in a /proc/<pid>/mountinfo text (octal escapes decoded).
std::vector<std::string> parseMountPoints(std::string_view mountinfo);

// Polls `mountinfoPath` until every target is a mount point, with a backoff from 100 ms capped
// at 5 s; DEADLINE_EXCEEDED naming the missing ones at `deadline`.
asio::awaitable<Status> waitForMounts(const std::vector<std::string>& targets,
                                      std::chrono::steady_clock::time_point deadline,
                                      const std::string& mountinfoPath);

// ---------------------------------------------------------------------------------------------
// The relay.

struct ForwarderOptions {
  std::string agentSocket = kDefaultAgentSocket;
  std::string podNamespace = kDefaultPodNamespace;
  // Upstream: the agent dial is bounded by min(call deadline, 150 s).
  std::chrono::milliseconds agentDialTimeout{std::chrono::seconds(150)};
  std::chrono::milliseconds mountWaitTimeout{std::chrono::minutes(3)};
  std::string mountinfoPath = "/proc/self/mountinfo";
  // Unauthenticated connections: how many may be in their TLS handshake, and for how long.
  ttrpc::TcpListenOptions listen{kDefaultMaxPendingHandshakes, kDefaultHandshakeTimeout};
  // Per connection: in-flight caps (ttrpc's defaults) and an idle timeout.
  ttrpc::ServerOptions server{.idleTimeout = kDefaultIdleTimeout};
};

class AgentForwarder : public std::enable_shared_from_this<AgentForwarder> {
 public:
  static std::shared_ptr<AgentForwarder> create(asio::any_io_executor ex, ForwarderOptions options);
  ~AgentForwarder();

  // Accepts connections on host:port (port 0 picks one), TLS when `tls` is set. Call on the
  // executor's thread (or before it runs).
  Status listen(const std::string& host, uint16_t port, std::shared_ptr<asio::ssl::context> tls);
  uint16_t port() const;
  // Stops listening and closes every connection, downstream and upstream. Call on the executor.
  void shutdown();
  // Downstream connections being served (the adaptor's proxies). Any thread.
  size_t connections() const { return server_.connectionCount(); }

  // How often the kata-agent connection was (re-)established.
  int agentConnects() const { return agent_.connects(); }
  // TLS connections accepted and not yet through their handshake.
  size_t pendingHandshakes() const { return listener_ ? listener_->pendingHandshakes() : 0; }

 private:
  AgentForwarder(asio::any_io_executor ex, ForwarderOptions options);
  // Relays one call that was not passed on as bytes: one of the calls edit() changes or logs
  // (editOrLog), or any call while the agent is not connected (the relay dials it).
  static asio::awaitable<Result<std::string>> handle(std::weak_ptr<AgentForwarder> weak,
                                                     const ttrpc::CallContext& ctx,
                                                     std::string payload, bool editOrLog);
  asio::awaitable<Result<std::string>> edit(const ttrpc::CallContext& ctx, std::string payload);

  asio::any_io_executor ex_;
  ForwarderOptions options_;
  ttrpc::Server server_;
  std::unique_ptr<ttrpc::Listener> listener_;
  ttrpc::Redialer agent_;  // kata-agent
  bool stopped_ = false;
};

// ---------------------------------------------------------------------------------------------
// The daemon: configuration, pod namespace and network, TLS, the relay, systemd notification.

// Creates a named network namespace at `path` (as `ip netns add`, with `lo` up) unless it
// exists. Upstream's image creates /run/netns/podns with a systemd unit (netns@podns); doing
// it here when it is missing lets an image without that unit work too.
Status ensureNetns(const std::string& path);

class Daemon {
 public:
  explicit Daemon(Options options);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Everything up to listening, then sd_notify READY=1. An error means exit 1.
  Status start();
  // STOPPING=1, closes connections, tears the pod network down. Idempotent.
  void stop();
  uint16_t port() const;
  // The -metrics-listen port (0 without it).
  uint16_t metricsPort() const;
  const std::string& podNamespace() const { return podNamespace_; }
  // The secure comms SSH server (null without secure comms).
  securecomms::SshServer* sshServer() const { return sshServer_.get(); }

 private:
  Status startMetrics(const std::string& host, uint16_t port);
  Options options_;
  std::string podNamespace_;
  std::optional<podnetwork::PodNetworkConfig> network_;
  std::unique_ptr<podnetwork::PodNode> podNode_;
  std::unique_ptr<ttrpc::IoThread> io_;
  std::shared_ptr<AgentForwarder> forwarder_;
  std::unique_ptr<net::HttpServer> metricsServer_;
  metrics::Registry::CallbackHandle connectsGauge_;
  metrics::Registry::CallbackHandle handshakesGauge_;
  std::unique_ptr<securecomms::SshServer> sshServer_;
  bool started_ = false;
};

}  // namespace pp::forwarder
