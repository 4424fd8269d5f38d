// SandboxManager: the life cycle of pod sandboxes behind the hypervisor service.
//
// CreateVM records the sandbox (validated input, instance name, pod network inspection, TLS
// material, user data) and answers the agent socket path; StartVM creates the instance through
// the provider, sets up the pod network and starts the agent proxy; StopVM undoes all of it.
// Each transition is saved to <pods-dir>/<id>/state.json before the call answers, so a
// restarted adaptor reattaches (restore()). Calls are blocking (provider calls are) and
// thread-safe; different sandboxes never wait on each other's provider calls.
#pragma once

#include <asio/any_io_executor.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "adaptor/agent_proxy.h"
#include "adaptor/kube_hooks.h"
#include "adaptor/pod_network.h"
#include "adaptor/sandbox_spec.h"
#include "adaptor/sandbox_state.h"
#include "adaptor/tls_material.h"
#include "apf/apf_config.h"
#include "base/error.h"
#include "base/metrics.h"
#include "providers/image_policy.h"
#include "providers/provider.h"

namespace pp::adaptor {

struct ManagerOptions {
  std::string podsDir = "/run/peerpod/pods";
  uint16_t forwarderPort = 15150;
  std::chrono::milliseconds proxyTimeout{std::chrono::minutes(5)};
  bool disableTls = false;
  bool tlsSkipVerify = false;
  // Upstream's TLS profile as given (-tls-min-version, -tls-cipher-suites split at commas),
  // already checked: sent to each new VM in apf.json and applied to the proxy's client side.
  std::string tlsMinVersion;
  std::vector<std::string> tlsCipherSuites;
  std::string initdata;  // global default, base64(gzip(TOML))
  bool enableScratchSpace = false;
  std::string directVolumesDir = "/run/kata-containers/shared/direct-volumes";
  // -allowed-images: what the image annotation may name.
  providers::ImagePolicy allowedImages;
  // The provider's name: the `provider` label of the provider metrics.
  std::string providerName;
  // Secure comms (-secure-comms): adds the sandbox's SSH keys and tunnel tags to the apf.json
  // CreateVM sends (src/securecomms NodeSide::prepareApf). Empty: off.
  std::function<Status(const std::string& id, apf::ApfConfig& apf)> prepareApf;
  // Called once a sandbox is gone for good: after its instance is deleted and its state removed
  // by StopVM, on every path (the shim's call, a stop that restore() finishes, the retry of a
  // failed delete), or when a CreateVM fails after prepareApf ran. Not while a failed delete
  // keeps the sandbox stopping. Secure comms deletes the sandbox's key pair (pp-<id>) here.
  // Empty: nothing.
  std::function<void(const std::string& id)> forgetSandbox;
};

struct CreateVmInput {
  std::string id;
  std::map<std::string, std::string> annotations;
  std::string netnsPath;
};

using Clock = std::chrono::steady_clock;

// What the manager does with a sandbox's agent proxy: AgentProxy in the daemon, an in-memory
// one in tests that have no VM to dial.
class SandboxProxy {
 public:
  virtual ~SandboxProxy() = default;
  // Ready once the pod VM's agent is reachable (StartVM) or with an error by `readyBy`.
  virtual std::future<Status> start(Clock::time_point readyBy) = 0;
  // Listens without waiting for the VM (reattaching after a restart).
  virtual std::future<Status> listenOnly() = 0;
  virtual void shutdown() = 0;
};

// Makes a sandbox's proxy from its options (TLS context included). Empty: an AgentProxy on the
// manager's I/O executor.
using ProxyFactory = std::function<std::shared_ptr<SandboxProxy>(AgentProxyOptions)>;

class SandboxManager {
 public:
  SandboxManager(ManagerOptions options, providers::Provider& provider, StateStore& store,
                 PodNetwork& network, CertIssuer* issuer, asio::any_io_executor ioExecutor,
                 ProxyFactory proxyFactory = {});
  ~SandboxManager();

  // Kubernetes integration (PeerPods, Events, image-pull credentials); set before the first
  // call or restore(), or never (then all of it is off). Not owned.
  void setKubeHooks(KubeHooks* hooks) { kube_ = hooks; }

  // Returns the agent socket path.
  Result<std::string> createVM(const CreateVmInput& input);
  Status startVM(const std::string& id, Clock::time_point deadline);
  Status stopVM(const std::string& id);
  // PodVMInfo.GetInfo: the instance id of the pod's VM; with wait, blocks until it exists or
  // the deadline passes.
  Result<std::string> vmId(const std::string& podName, const std::string& podNamespace, bool wait,
                           Clock::time_point deadline);

  // Reloads saved sandboxes at start: running ones get their proxy back, half-started ones
  // have their instance deleted, stopping ones finish stopping. Returns how many were reattached.
  int restore();
  // Finishes the StopVMs whose instance delete failed (phase stopping): the daemon calls it
  // periodically, so a cloud's passing error does not leave the instance until the next
  // restart. Sandboxes busy in another call are skipped. Returns how many were retried.
  int retryStopping();
  // Graceful shutdown: proxies close, VMs keep running, state stays on disk.
  void shutdown();

  size_t sandboxCount() const;
  std::string agentSocketPath(const std::string& id) const;
  // Upstream's debug copy of the apf.json the sandbox's VM was sent (mode 0600).
  std::string apfJsonPath(const std::string& id) const;

 private:
  struct Entry {
    std::mutex mu;  // held for the duration of one transition of this sandbox
    SandboxState state;
    std::shared_ptr<SandboxProxy> proxy;
  };

  std::shared_ptr<Entry> find(const std::string& id) const;
  Status save(const SandboxState& state,
              files::Durability durability = files::Durability::kDurable);
  // The provider calls, timed and counted for /metrics.
  Result<providers::Instance> providerCreate(const providers::CreateRequest& request);
  Status providerDelete(const std::string& instanceId);
  Result<std::vector<providers::Instance>> providerList(const std::string& tag);
  // What the sandboxes and tunnels gauges count (kept by save(), dropped with the entry).
  void track(const SandboxState& s);
  void untrack(const std::string& id);
  // For a sandbox whose instance id is unknown (instanceUnknown): deletes every instance the
  // provider lists under the sandbox's tag. `last` (StartVM, StopVM) then clears the flag;
  // restore() keeps it, because a cloud's list can lag a create that was accepted seconds
  // before. An error (the list or a delete failed) keeps the flag, so the next call looks again.
  Status sweepUnknownInstance(SandboxState& s, bool last = true);
  // -allowed-images and the provider's own rule for the image annotation.
  Status checkImage(const std::string& image) const;
  Result<std::shared_ptr<SandboxProxy>> makeProxy(const SandboxState& state);
  void cleanupFailedStart(Entry& e, const std::string& reason);
  void releasePeerPod(SandboxState& s);
  void event(const SandboxState& s, EventType type, const std::string& reason,
             const std::string& message);

  ManagerOptions options_;
  providers::Provider& provider_;
  StateStore& store_;
  PodNetwork& network_;
  CertIssuer* issuer_;
  asio::any_io_executor io_;
  ProxyFactory proxyFactory_;
  KubeHooks* kube_ = nullptr;

  mutable std::mutex mu_;  // guards entries_ and tracked_; never held during provider calls
  std::map<std::string, std::shared_ptr<Entry>> entries_;
  struct Tracked {
    Phase phase;
    bool tunnel;
  };
  std::map<std::string, Tracked> tracked_;  // for the gauges: read without the entries' locks
  // Sandboxes this process finished stopping, newest last: a repeated StopVM of one of them is
  // answered OK (upstream answers "does not exist"; a shim retrying after a lost answer, or after
  // our restart finished the stop, would see an error for a success).
  static constexpr size_t kStoppedRemembered = 4096;
  std::deque<std::string> stopped_;
  bool stoppedRecently(const std::string& id) const;
  metrics::Registry::CallbackHandle sandboxesGauge_;
  metrics::Registry::CallbackHandle tunnelsGauge_;
  std::map<std::string, std::weak_ptr<asio::ssl::context>> tlsContexts_;
  std::condition_variable instanceKnown_;
};

}  // namespace pp::adaptor
