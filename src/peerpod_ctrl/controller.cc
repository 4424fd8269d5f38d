// peerpod-ctrl's controller (see controller.h).
#include "peerpod_ctrl/controller.h"

#include <fmt/format.h>

#include <algorithm>
#include <thread>

#include "base/encoding.h"
#include "base/log.h"
#include "base/metrics.h"
#include "k8s/leader_election.h"
#include "providers/plugin_loader.h"
#include "providers/registry.h"

namespace pp::peerpod_ctrl {
namespace {

using k8s::Json;
namespace res = k8s::resources;

std::string keyOf(const std::string& ns, const std::string& name) {
  return ns + "/" + name;
}

std::pair<std::string, std::string> splitKey(const std::string& key) {
  size_t slash = key.find('/');
  return {key.substr(0, slash), key.substr(slash + 1)};
}

// Objects from the client always have an object "metadata".
using k8s::field;
std::string str(const Json& object, const char* section, const char* key) {
  return field(object, section, key);
}

const Json& metadataOf(const Json& object) {
  return object.at("metadata");
}

bool hasFinalizer(const Json& pp) {
  const Json& meta = metadataOf(pp);
  if (!meta.contains("finalizers") || !meta["finalizers"].is_array()) return false;
  for (const auto& f : meta["finalizers"]) {
    if (f == k8s::kPeerPodFinalizer) return true;
  }
  return false;
}

// The first owner reference's uid; "" for an ownerless PeerPod (upstream panics on those).
std::string ownerUid(const Json& pp) {
  const Json& meta = metadataOf(pp);
  if (!meta.contains("ownerReferences") || !meta["ownerReferences"].is_array() ||
      meta["ownerReferences"].empty()) {
    return {};
  }
  const Json& ref = meta["ownerReferences"][0];
  return ref.is_object() && ref.contains("uid") && ref["uid"].is_string()
             ? ref["uid"].get<std::string>()
             : std::string();
}

}  // namespace

// The controller's metrics (docs/metrics.md), in a registry of its own: served on
// --metrics-bind-address.
struct Controller::Counters {
  metrics::Registry registry;
  metrics::Family<metrics::Counter>& reconciles = registry.counter(
      "peerpod_ctrl_reconciles_total", "PeerPod reconciles by result.", {"result"});
  metrics::Family<metrics::Counter>& instanceDeletes = registry.counter(
      "peerpod_ctrl_instance_deletes_total",
      "Cloud instance deletions for PeerPods being deleted, by result.", {"result"});
  metrics::Counter& finalizersRemoved =
      registry.counter("peerpod_ctrl_finalizers_removed_total", "PeerPod finalizers removed.")
          .with();
  metrics::Counter& duplicatesDeleted = registry
                                            .counter("peerpod_ctrl_duplicates_deleted_total",
                                                     "Older PeerPods of the same pod deleted.")
                                            .with();
  metrics::Family<metrics::Counter>& sweeps =
      registry.counter("peerpod_ctrl_orphan_sweeps_total", "Orphan sweeps by result.", {"result"});
  metrics::Gauge& orphans =
      registry
          .gauge("peerpod_ctrl_orphan_instances",
                 "Instances without a PeerPod found by the last sweep and not deleted.")
          .with();
  metrics::Counter& orphansDeleted = registry
                                         .counter("peerpod_ctrl_orphans_deleted_total",
                                                  "Orphan instances deleted (--delete-orphans).")
                                         .with();
  metrics::Gauge& queueDepth =
      registry.gauge("peerpod_ctrl_queue_depth", "PeerPods waiting to be reconciled.").with();
  metrics::Gauge& ready =
      registry.gauge("peerpod_ctrl_ready", "1 once PeerPods are being watched.").with();

  Counters() {
    // Both results show from the first scrape, as zeroes.
    for (const char* r : {"success", "error"}) {
      reconciles.with({r});
      instanceDeletes.with({r});
      sweeps.with({r});
    }
  }
};

Result<std::unique_ptr<providers::Provider>> buildRegisteredProvider(const std::string& name,
                                                                     const flags::EnvLookup& env) {
  auto setup = providers::lookupProvider(name, providers::registry(), env);
  if (!setup) return fail(setup.error());
  // Registration alone applies the settings (no command line, as upstream's empty flag set).
  flags::FlagSet fs("peerpod-ctrl " + name, env);
  (*setup)->registerFlags(fs);
  // The strict checks the adaptor's parse() makes: a bad value or a REPLACE_ME placeholder in
  // peer-pods-cm/peer-pods-secret is an error here too, not a silently kept default.
  if (auto st = fs.validate(); !st) return fail(st.error().wrap("provider " + name));
  return (*setup)->build();
}

Controller::Controller(std::shared_ptr<const k8s::Client> client, ControllerOptions options,
                       ProviderFactory factory)
    : client_(std::move(client)),
      options_(std::move(options)),
      factory_(std::move(factory)),
      counters_(std::make_unique<Counters>()) {}

Controller::~Controller() {
  std::lock_guard lock(providersMu_);
  for (auto& [name, p] : providers_) {
    if (auto st = p->teardown(); !st)
      log::warn("peerpod-ctrl", "provider {} teardown: {}", name, st.error().message);
  }
}

Result<std::map<std::string, std::string>> Controller::loadCloudConfig() const {
  std::map<std::string, std::string> env;
  const std::string& ns = options_.configNamespace;
  if (ns.empty()) {
    return fail(Code::kFailedPrecondition, "PEERPODS_NAMESPACE is not set: cannot find " +
                                               options_.configMapName + " and " +
                                               options_.secretName);
  }
  auto cm = client_->get(res::kConfigMaps, ns, options_.configMapName);
  if (!cm && !k8s::isNotFound(cm.error())) return fail(cm.error());
  if (cm && cm->contains("data") && (*cm)["data"].is_object()) {
    for (const auto& [k, v] : (*cm)["data"].items()) {
      if (v.is_string()) env[k] = v.get<std::string>();
    }
  }
  auto secret = client_->get(res::kSecrets, ns, options_.secretName);
  if (!secret && !k8s::isNotFound(secret.error())) return fail(secret.error());
  if (secret && secret->contains("data") && (*secret)["data"].is_object()) {
    for (const auto& [k, v] : (*secret)["data"].items()) {
      if (!v.is_string()) continue;
      auto decoded = encoding::base64Decode(v.get<std::string>());
      if (!decoded) {
        log::warn("peerpod-ctrl", "Secret {}/{} key {} is not valid base64; ignored", ns,
                  options_.secretName, k);
        continue;
      }
      env[k] = *decoded;
    }
  }
  if (!cm && !secret) {
    log::warn("peerpod-ctrl",
              "neither ConfigMap {0}/{1} nor Secret {0}/{2} exists; providers get "
              "the process environment only",
              ns, options_.configMapName, options_.secretName);
  }
  return env;
}

Result<providers::Provider*> Controller::provider(const std::string& name) {
  std::lock_guard lock(providersMu_);
  if (auto it = providers_.find(name); it != providers_.end()) return it->second.get();
  if (!cloudEnvLoaded_) {
    // Upstream loads the settings once, when its provider cache is empty; a failure is retried
    // at the next need.
    auto env = loadCloudConfig();
    if (!env) return fail(env.error().wrap("loading the cloud configuration"));
    cloudEnv_ = std::move(*env);
    cloudEnvLoaded_ = true;
  }
  auto values = cloudEnv_;
  flags::EnvLookup process = flags::processEnv();
  flags::EnvLookup env = [values, process](const std::string& key) -> std::optional<std::string> {
    if (auto it = values.find(key); it != values.end()) return it->second;
    return process(key);
  };
  auto built = factory_(name, env);
  if (!built) return fail(built.error().wrap("building provider " + name));
  log::info("peerpod-ctrl", "provider {} ready", name);
  auto* raw = built->get();
  providers_[name] = std::move(*built);
  return raw;
}

Status Controller::reconcile(const std::string& ns, const std::string& name) {
  auto counted = [this](Status st) {
    counters_->reconciles.with({st ? "success" : "error"}).inc();
    return st;
  };
  auto pp = client_->get(res::kPeerPods, ns, name);
  if (!pp) {
    if (k8s::isNotFound(pp.error())) return counted({});
    return counted(fail(pp.error()));
  }
  Status st;
  if (!metadataOf(*pp).contains("deletionTimestamp")) {
    st = deleteOlderDuplicates(*pp);
  } else if (hasFinalizer(*pp)) {
    st = finalize(*pp);
  }
  return counted(std::move(st));
}

Status Controller::finalize(const Json& pp) {
  std::string ns = str(pp, "metadata", "namespace");
  std::string name = str(pp, "metadata", "name");
  std::string cloud = str(pp, "spec", "cloudProvider");
  std::string instance = str(pp, "spec", "instanceID");
  if (!instance.empty()) {
    if (cloud.empty()) {
      return fail(Code::kFailedPrecondition,
                  fmt::format("PeerPod {}/{} has no spec.cloudProvider: cannot delete instance {}",
                              ns, name, instance));
    }
    auto p = provider(cloud);
    if (!p) return fail(p.error());
    if (auto st = (*p)->deleteInstance(instance); !st) {
      counters_->instanceDeletes.with({"error"}).inc();
      return fail(st.error().wrap(
          fmt::format("deleting instance {} of PeerPod {}/{}", instance, ns, name)));
    }
    counters_->instanceDeletes.with({"success"}).inc();
    log::info("peerpod-ctrl", "deleted instance {} ({}) of PeerPod {}/{}", instance, cloud, ns,
              name);
    postEvent(ns, name, "Normal", "InstanceDeleted",
              fmt::format("Deleted instance {} ({}) left behind by the cloud-api-adaptor", instance,
                          cloud));
  }
  // Remove only our finalizer, with the version we read: a conflict is retried.
  Json updated = pp;
  Json kept = Json::array();
  for (const auto& f : metadataOf(pp).at("finalizers")) {
    if (f != k8s::kPeerPodFinalizer) kept.push_back(f);
  }
  updated["metadata"]["finalizers"] = kept;
  auto r = client_->update(res::kPeerPods, ns, updated);
  if (!r && !k8s::isNotFound(r.error())) return fail(r.error());
  counters_->finalizersRemoved.inc();
  log::info("peerpod-ctrl", "PeerPod {}/{}: finalizer removed", ns, name);
  return {};
}

void Controller::postEvent(const std::string& ns, const std::string& name, const std::string& type,
                           const std::string& reason, const std::string& message) {
  std::string text = message.size() > 1024 ? message.substr(0, 1021) + "..." : message;
  auto now = k8s::microTimeNow().substr(0, 19) + "Z";
  Json ev{{"apiVersion", "v1"},
          {"kind", "Event"},
          {"metadata", {{"generateName", name + "."}, {"namespace", ns}}},
          {"involvedObject",
           {{"apiVersion", k8s::kPeerPodApiVersion},
            {"kind", "PeerPod"},
            {"namespace", ns},
            {"name", name}}},
          {"reason", reason},
          {"message", text},
          {"type", type},
          {"source", {{"component", "peerpod-ctrl"}}},
          {"reportingComponent", "peerpod-ctrl"},
          {"firstTimestamp", now},
          {"lastTimestamp", now},
          {"count", 1}};
  if (auto r = client_->create(res::kEvents, ns, ev); !r) {
    log::debug("peerpod-ctrl", "posting event {} on PeerPod {}/{}: {}", reason, ns, name,
               r.error().message);
  }
}

Status Controller::deleteOlderDuplicates(const Json& pp) {
  std::string owner = ownerUid(pp);
  if (owner.empty()) return {};  // nothing to compare with (upstream would panic)
  std::string uid = str(pp, "metadata", "uid");
  std::string created = str(pp, "metadata", "creationTimestamp");
  auto all = client_->list(res::kPeerPods, "");
  if (!all) return fail(all.error());
  Status result;
  for (const auto& other : (*all)["items"]) {
    if (ownerUid(other) != owner || str(other, "metadata", "uid") == uid) continue;
    // RFC 3339 UTC times of one format order as strings; strictly older only, as upstream.
    if (!(str(other, "metadata", "creationTimestamp") < created)) continue;
    if (metadataOf(other).contains("deletionTimestamp")) continue;
    std::string ns = str(other, "metadata", "namespace");
    std::string name = str(other, "metadata", "name");
    auto r = client_->remove(res::kPeerPods, ns, name);
    if (!r && !k8s::isNotFound(r.error())) {
      result = fail(r.error());
      continue;
    }
    counters_->duplicatesDeleted.inc();
    log::info("peerpod-ctrl",
              "deleted stale PeerPod {}/{} (instance {}): PeerPod {} is newer for the same pod", ns,
              name, str(other, "spec", "instanceID"), str(pp, "metadata", "name"));
  }
  return result;
}

Result<SweepReport> Controller::sweep() {
  auto all = client_->list(res::kPeerPods, "");
  counters_->sweeps.with({all ? "success" : "error"}).inc();
  if (!all) return fail(all.error().wrap("orphan sweep"));
  std::set<std::string> owned;
  std::set<std::string> clouds;
  for (const auto& pp : (*all)["items"]) {
    owned.insert(str(pp, "spec", "instanceID"));
    if (auto c = str(pp, "spec", "cloudProvider"); !c.empty()) clouds.insert(c);
  }
  {
    std::lock_guard lock(providersMu_);
    if (!cloudEnvLoaded_) {
      if (auto env = loadCloudConfig()) {
        cloudEnv_ = std::move(*env);
        cloudEnvLoaded_ = true;
      }
    }
    if (auto it = cloudEnv_.find("CLOUD_PROVIDER"); it != cloudEnv_.end() && !it->second.empty())
      clouds.insert(it->second);
  }
  SweepReport report;
  std::set<std::string> orphanIds;
  auto now = Clock::now();
  for (const auto& cloud : clouds) {
    auto p = provider(cloud);
    if (!p) {
      log::warn("peerpod-ctrl", "orphan sweep: {}", p.error().message);
      continue;
    }
    auto instances = (*p)->listInstances("");
    if (!instances) {
      if (instances.error().code == Code::kUnimplemented) {
        log::debug("peerpod-ctrl", "orphan sweep: provider {} cannot list instances", cloud);
      } else {
        log::warn("peerpod-ctrl", "orphan sweep: listing {} instances: {}", cloud,
                  instances.error().message);
      }
      continue;
    }
    report.providersChecked++;
    report.instances += static_cast<int>(instances->size());
    for (const auto& inst : *instances) {
      if (owned.contains(inst.id)) continue;
      report.orphans.push_back(inst.id);
      orphanIds.insert(inst.id);
      Clock::time_point since;
      {
        std::lock_guard lock(sweepMu_);
        since = orphanSince_.emplace(inst.id, now).first->second;
      }
      auto age = std::chrono::duration_cast<std::chrono::seconds>(now - since);
      if (!options_.deleteOrphans || now - since < options_.orphanMinAge) {
        log::warn("peerpod-ctrl",
                  "orphan instance {} ({}, provider {}): no PeerPod refers to it (for {}s){}",
                  inst.id, inst.name, cloud, age.count(),
                  options_.deleteOrphans ? "; deleting it once it is old enough"
                                         : "; run with --delete-orphans to delete such instances");
        continue;
      }
      if (auto st = (*p)->deleteInstance(inst.id); !st) {
        log::error("peerpod-ctrl", "deleting orphan instance {} ({}): {}", inst.id, cloud,
                   st.error().message);
        continue;
      }
      counters_->orphansDeleted.inc();
      report.deleted.push_back(inst.id);
      log::info("peerpod-ctrl", "deleted orphan instance {} ({}, provider {})", inst.id, inst.name,
                cloud);
    }
  }
  {
    // Forget instances that are no longer orphans (or gone).
    std::lock_guard lock(sweepMu_);
    std::erase_if(orphanSince_, [&](const auto& kv) { return !orphanIds.contains(kv.first); });
    for (const auto& id : report.deleted) orphanSince_.erase(id);
  }
  counters_->orphans.set(static_cast<double>(report.orphans.size() - report.deleted.size()));
  return report;
}

void Controller::enqueue(const std::string& key, Clock::duration delay) {
  {
    std::lock_guard lock(queueMu_);
    auto due = Clock::now() + delay;
    auto [it, inserted] = queue_.emplace(key, due);
    if (!inserted && due < it->second) it->second = due;
    counters_->queueDepth.set(static_cast<double>(queue_.size()));
  }
  queueCv_.notify_all();
}

void Controller::runQueue(std::stop_token stop) {
  std::unique_lock lock(queueMu_);
  while (!stop.stop_requested()) {
    auto next = std::min_element(queue_.begin(), queue_.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
    if (next == queue_.end()) {
      queueCv_.wait(lock, stop, [&] { return !queue_.empty(); });
      continue;
    }
    if (next->second > Clock::now()) {
      auto due = next->second;
      queueCv_.wait_until(lock, stop, due, [&] { return false; });
      continue;
    }
    std::string key = next->first;
    queue_.erase(next);
    counters_->queueDepth.set(static_cast<double>(queue_.size()));
    lock.unlock();
    auto [ns, name] = splitKey(key);
    Status st = reconcile(ns, name);
    lock.lock();
    if (st) {
      failures_.erase(key);
      continue;
    }
    int n = ++failures_[key];
    auto delay = options_.retryBase * (1LL << std::min(n - 1, 20));
    if (delay > options_.retryMax) delay = options_.retryMax;
    log::warn("peerpod-ctrl", "PeerPod {}: {} (attempt {}, retrying in {} ms)", key,
              st.error().message, n, delay.count());
    lock.unlock();
    // On the PeerPod, so that `kubectl describe peerpod` says why it stays Terminating; at
    // attempts 1, 2, 4, 8, ... so that a long outage does not flood the namespace.
    if ((n & (n - 1)) == 0) {
      postEvent(ns, name, "Warning", "CleanupFailed",
                fmt::format("{} (attempt {}; retrying with backoff)", st.error().message, n));
    }
    enqueue(key, delay);
    lock.lock();
  }
}

void Controller::runSweeps(std::stop_token stop) {
  std::mutex mu;
  std::condition_variable_any cv;
  while (!stop.stop_requested()) {
    {
      std::unique_lock lock(mu);
      if (cv.wait_for(lock, stop, options_.sweepInterval, [] { return false; })) break;
    }
    if (stop.stop_requested()) break;
    auto report = sweep();
    if (!report) {
      log::warn("peerpod-ctrl", "{}", report.error().message);
    } else {
      log::info("peerpod-ctrl",
                "orphan sweep: {} instances from {} providers, {} orphans, {} deleted",
                report->instances, report->providersChecked, report->orphans.size(),
                report->deleted.size());
    }
  }
}

void Controller::run(std::stop_token stop) {
  std::jthread worker([this](std::stop_token s) { runQueue(s); });
  std::jthread sweeper;
  if (options_.sweepInterval.count() > 0)
    sweeper = std::jthread([this](std::stop_token s) { runSweeps(s); });
  std::stop_callback stopAll(stop, [&] {
    worker.request_stop();
    if (sweeper.joinable()) sweeper.request_stop();
  });
  k8s::InformerHandlers handlers;
  handlers.onList = [this](const Json& list) {
    for (const auto& pp : list["items"]) {
      enqueue(keyOf(str(pp, "metadata", "namespace"), str(pp, "metadata", "name")));
    }
    counters_->ready.set(1);
    if (!ready_.exchange(true))
      log::info("peerpod-ctrl", "watching PeerPods ({} now)", list["items"].size());
  };
  handlers.onEvent = [this](const k8s::WatchEvent& e) {
    if (e.type == "DELETED") return;  // gone: nothing left to do for it
    enqueue(keyOf(str(e.object, "metadata", "namespace"), str(e.object, "metadata", "name")));
  };
  k8s::runInformer(*client_, res::kPeerPods, "", {}, handlers, stop, options_.watchTimeoutSeconds);
}

std::string Controller::metricsText() const {
  return counters_->registry.render();
}

}  // namespace pp::peerpod_ctrl
