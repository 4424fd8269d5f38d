#include "csi/monitor.h"

#include "base/log.h"

namespace pp::csi {

VolumeMonitor::VolumeMonitor(std::shared_ptr<const k8s::Client> client, std::string ns,
                             SyncFunction sync, MonitorOptions options)
    : client_(std::move(client)), ns_(std::move(ns)), sync_(std::move(sync)), options_(options) {}

VolumeMonitor::~VolumeMonitor() {
  stop();
}

void VolumeMonitor::start() {
  threads_.emplace_back([this](std::stop_token stop) {
    k8s::InformerHandlers handlers;
    handlers.onList = [this](const Json& list) {
      std::vector<std::string> names;
      {
        std::lock_guard lock(mu_);
        cache_.clear();
        if (list.contains("items") && list["items"].is_array()) {
          for (const auto& item : list["items"]) {
            std::string name = k8s::field(item, "metadata", "name");
            if (name.empty()) continue;
            cache_[name] = item;
            names.push_back(name);
          }
        }
        synced_ = true;
      }
      for (const auto& n : names) enqueue(n);
    };
    handlers.onEvent = [this](const k8s::WatchEvent& event) {
      std::string name = k8s::field(event.object, "metadata", "name");
      if (name.empty()) return;
      if (event.type == "DELETED") {
        std::lock_guard lock(mu_);
        cache_.erase(name);
        return;  // upstream's delete handler does nothing
      }
      if (event.type != "ADDED" && event.type != "MODIFIED") return;
      {
        std::lock_guard lock(mu_);
        auto it = cache_.find(name);
        if (it != cache_.end() && k8s::field(it->second, "metadata", "resourceVersion") ==
                                      k8s::field(event.object, "metadata", "resourceVersion")) {
          return;
        }
        cache_[name] = event.object;
      }
      enqueue(name);
    };
    k8s::runInformer(*client_, kPeerpodVolumes, ns_, {}, handlers, stop,
                     options_.watchTimeoutSeconds);
    std::lock_guard lock(mu_);
    cv_.notify_all();
  });
  for (int i = 0; i < options_.workers; ++i) {
    threads_.emplace_back([this](std::stop_token stop) { worker(stop); });
  }
  threads_.emplace_back([this](std::stop_token stop) { timers(stop); });
}

void VolumeMonitor::stop() {
  for (auto& t : threads_) t.request_stop();
  {
    std::lock_guard lock(mu_);
    cv_.notify_all();
  }
  threads_.clear();  // joins
}

bool VolumeMonitor::synced() const {
  std::lock_guard lock(mu_);
  return synced_;
}

void VolumeMonitor::enqueue(const std::string& name) {
  std::lock_guard lock(mu_);
  if (running_.count(name)) {
    dirty_.insert(name);  // runs again when the current run ends
    return;
  }
  if (queued_.insert(name).second) {
    queue_.push_back(name);
    cv_.notify_all();
  }
}

void VolumeMonitor::worker(std::stop_token stop) {
  while (!stop.stop_requested()) {
    std::string name;
    Json object;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, stop, [&] { return !queue_.empty(); });
      if (stop.stop_requested()) return;
      name = queue_.front();
      queue_.pop_front();
      queued_.erase(name);
      auto it = cache_.find(name);
      if (it == cache_.end()) continue;  // deleted meanwhile
      object = it->second;
      running_.insert(name);
    }
    SyncResult result = SyncResult::kDone;
    std::string volumeId;
    if (object.contains("spec") && object["spec"].is_object() &&
        object["spec"].contains("volumeID") && object["spec"]["volumeID"].is_string()) {
      volumeId = object["spec"]["volumeID"].get<std::string>();
    }
    if (!volumeId.empty()) {
      try {
        result = sync_(object);
      } catch (const std::exception& e) {
        log::error("csi", "sync of PeerpodVolume {}/{} failed: {}", ns_, name, e.what());
        result = SyncResult::kRetry;
      }
    }
    std::lock_guard lock(mu_);
    running_.erase(name);
    if (result == SyncResult::kRetry) {
      delayed_.emplace(std::chrono::steady_clock::now() + options_.retryDelay, name);
    }
    if (dirty_.erase(name) && queued_.insert(name).second) {
      queue_.push_back(name);
      cv_.notify_all();
    }
  }
}

void VolumeMonitor::timers(std::stop_token stop) {
  auto nextResync = std::chrono::steady_clock::now() + options_.resync;
  while (!stop.stop_requested()) {
    std::vector<std::string> due;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, stop, std::chrono::milliseconds(100), [] { return false; });
      if (stop.stop_requested()) return;
      auto now = std::chrono::steady_clock::now();
      while (!delayed_.empty() && delayed_.begin()->first <= now) {
        due.push_back(delayed_.begin()->second);
        delayed_.erase(delayed_.begin());
      }
      if (now >= nextResync) {
        nextResync = now + options_.resync;
        for (const auto& [name, object] : cache_) due.push_back(name);
      }
    }
    for (const auto& n : due) enqueue(n);
  }
}

}  // namespace pp::csi
