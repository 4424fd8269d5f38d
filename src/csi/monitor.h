// The PeerpodVolume informer every wrapper runs: a list+watch of --namespace only (upstream
// watches the whole cluster and drops other namespaces), a cache of the latest object per name,
// a work queue that never runs one name on two workers at once, 2 workers, a resync of every
// cached object every 30 s, and a retry (after `retryDelay`) of a sync that asks for one.
// Objects with an empty spec.volumeID are skipped, as upstream does.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <stop_token>
#include <thread>
#include <vector>

#include "csi/volume_client.h"

namespace pp::csi {

enum class SyncResult { kDone, kRetry };
using SyncFunction = std::function<SyncResult(const Json& volume)>;

struct MonitorOptions {
  int workers = 2;
  std::chrono::milliseconds resync{std::chrono::seconds(30)};
  std::chrono::milliseconds retryDelay{std::chrono::seconds(1)};
  int watchTimeoutSeconds = 300;
};

class VolumeMonitor {
 public:
  VolumeMonitor(std::shared_ptr<const k8s::Client> client, std::string ns, SyncFunction sync,
                MonitorOptions options = {});
  ~VolumeMonitor();  // stops and joins
  void start();
  void stop();
  // True once the first list arrived.
  bool synced() const;

 private:
  void enqueue(const std::string& name);
  void worker(std::stop_token stop);
  void timers(std::stop_token stop);
  void onObject(const Json& object);

  std::shared_ptr<const k8s::Client> client_;
  std::string ns_;
  SyncFunction sync_;
  MonitorOptions options_;

  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::map<std::string, Json> cache_;
  std::deque<std::string> queue_;
  std::set<std::string> queued_, running_, dirty_;
  std::multimap<std::chrono::steady_clock::time_point, std::string> delayed_;
  bool synced_ = false;
  std::vector<std::jthread> threads_;
};

}  // namespace pp::csi
