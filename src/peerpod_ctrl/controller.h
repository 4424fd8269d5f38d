// peerpod-ctrl's controller (upstream src/peerpod-ctrl): watches PeerPods cluster-wide and
//  - for one being deleted that still carries peer.pod/finalizer, builds the provider named
//    in spec.cloudProvider from the peer-pods-cm ConfigMap and peer-pods-secret Secret, deletes
//    spec.instanceID and then removes the finalizer; failures are retried with backoff;
//  - for one not being deleted, deletes older PeerPods of the same owner (left behind by an
//    adaptor crash or upgrade; deleting one runs the path above for its VM);
//  - better than upstream: a periodic sweep lists the instances each provider tagged as pod VMs
//    and reports those no PeerPod refers to (orphans), deleting them when asked to once they
//    have been orphans for a minimum age (an instance exists briefly before its PeerPod).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stop_token>
#include <string>
#include <vector>

#include "base/flags.h"
#include "k8s/client.h"
#include "providers/provider.h"

namespace pp::peerpod_ctrl {

using Clock = std::chrono::steady_clock;

struct ControllerOptions {
  // Where peer-pods-cm and peer-pods-secret live ($PEERPODS_NAMESPACE).
  std::string configNamespace;
  std::string configMapName = "peer-pods-cm";
  std::string secretName = "peer-pods-secret";
  // Retry backoff of a failing PeerPod: base doubling up to max.
  std::chrono::milliseconds retryBase{1000};
  std::chrono::milliseconds retryMax{std::chrono::minutes(5)};
  // Orphan sweep; zero disables it.
  std::chrono::milliseconds sweepInterval{std::chrono::minutes(10)};
  bool deleteOrphans = false;
  std::chrono::milliseconds orphanMinAge{std::chrono::minutes(10)};
  int watchTimeoutSeconds = 300;
};

// Builds a provider by name from environment-style settings (the ConfigMap's and Secret's
// keys over the process environment).
using ProviderFactory = std::function<Result<std::unique_ptr<providers::Provider>>(
    const std::string& name, const flags::EnvLookup& env)>;
// The real one: the provider registry (and external plugins), flags read from `env` alone.
Result<std::unique_ptr<providers::Provider>> buildRegisteredProvider(const std::string& name,
                                                                     const flags::EnvLookup& env);

struct SweepReport {
  int providersChecked = 0;
  int instances = 0;
  std::vector<std::string> orphans;  // instance ids no PeerPod refers to
  std::vector<std::string> deleted;
};

class Controller {
 public:
  Controller(std::shared_ptr<const k8s::Client> client, ControllerOptions options,
             ProviderFactory factory = buildRegisteredProvider);
  ~Controller();

  // Runs the watch, the work queue and the sweep until `stop` is requested.
  void run(std::stop_token stop);

  // One reconcile of PeerPod ns/name; an error means "retry later".
  Status reconcile(const std::string& ns, const std::string& name);
  // One orphan sweep.
  Result<SweepReport> sweep();

  // Ready once the first list of PeerPods succeeded.
  bool ready() const { return ready_.load(); }
  // Prometheus text exposition of the controller's counters.
  std::string metricsText() const;

  // The ConfigMap's and Secret's keys (Secret values decoded), for provider flags.
  Result<std::map<std::string, std::string>> loadCloudConfig() const;

 private:
  Result<providers::Provider*> provider(const std::string& name);
  Status finalize(const k8s::Json& peerPod);
  Status deleteOlderDuplicates(const k8s::Json& peerPod);
  // A core/v1 Event on a PeerPod (best effort).
  void postEvent(const std::string& ns, const std::string& name, const std::string& type,
                 const std::string& reason, const std::string& message);
  void enqueue(const std::string& key, Clock::duration delay = {});
  void runQueue(std::stop_token stop);
  void runSweeps(std::stop_token stop);

  std::shared_ptr<const k8s::Client> client_;
  ControllerOptions options_;
  ProviderFactory factory_;

  std::mutex providersMu_;
  std::map<std::string, std::unique_ptr<providers::Provider>> providers_;
  std::map<std::string, std::string> cloudEnv_;
  bool cloudEnvLoaded_ = false;

  // Work queue: key "ns/name" -> when it is due; failures per key for the backoff.
  std::mutex queueMu_;
  std::condition_variable_any queueCv_;
  std::map<std::string, Clock::time_point> queue_;
  std::map<std::string, int> failures_;

  std::mutex sweepMu_;
  std::map<std::string, Clock::time_point> orphanSince_;

  std::atomic<bool> ready_{false};
  struct Counters;
  std::unique_ptr<Counters> counters_;
};

}  // namespace pp::peerpod_ctrl
