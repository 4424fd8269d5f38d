// Readiness of the node's peer pods for the startup probe (see pods_readiness.h).
#include "adaptor/pods_readiness.h"

#include <fmt/format.h>

#include <condition_variable>

#include "base/log.h"

namespace pp::adaptor {

using k8s::Json;

PodsReadiness::PodsReadiness(std::shared_ptr<const k8s::Client> client, std::string nodeName,
                             std::string runtimeClass, std::chrono::milliseconds interval)
    : client_(std::move(client)),
      nodeName_(std::move(nodeName)),
      runtimeClass_(std::move(runtimeClass)),
      interval_(interval),
      reason_("peer pods on node " + nodeName_ + " not checked yet") {
  thread_ = std::jthread([this](std::stop_token stop) {
    std::mutex sleepMu;
    std::condition_variable_any cv;
    while (!stop.stop_requested()) {
      check();
      {
        std::lock_guard lock(mu_);
        if (ready_) return;
      }
      std::unique_lock lock(sleepMu);
      cv.wait_for(lock, stop, interval_, [] { return false; });
    }
  });
}

PodsReadiness::~PodsReadiness() {
  thread_.request_stop();
}

std::string PodsReadiness::notReadyReason() const {
  std::lock_guard lock(mu_);
  return ready_ ? std::string() : reason_;
}

std::string PodsReadiness::evaluate(const Json& podList, const std::string& runtimeClass,
                                    const std::string& nodeName) {
  std::vector<std::string> waiting;
  if (podList.contains("items") && podList["items"].is_array()) {
    for (const auto& pod : podList["items"]) {
      if (k8s::field(pod, "spec", "runtimeClassName") != runtimeClass) continue;
      if (!k8s::field(pod, "metadata", "deletionTimestamp").empty()) continue;
      if (k8s::field(pod, "status", "phase") != "Running") continue;
      bool ready = false;
      const Json& conditions =
          pod["status"].contains("conditions") ? pod["status"]["conditions"] : Json();
      if (conditions.is_array()) {
        for (const auto& c : conditions) {
          if (k8s::stringOf(c, "type") == "Ready" && k8s::stringOf(c, "status") == "True")
            ready = true;
        }
      }
      if (!ready) {
        waiting.push_back(k8s::field(pod, "metadata", "namespace") + "/" +
                          k8s::field(pod, "metadata", "name"));
      }
    }
  }
  if (waiting.empty()) return "";
  std::string names;
  for (size_t i = 0; i < waiting.size() && i < 5; ++i) names += (i ? ", " : "") + waiting[i];
  if (waiting.size() > 5) names += fmt::format(" and {} more", waiting.size() - 5);
  return fmt::format("waiting for {} running {} pods on node {} to be Ready: {}", waiting.size(),
                     runtimeClass, nodeName, names);
}

void PodsReadiness::check() {
  auto pods =
      client_->list(k8s::resources::kPods, "", {.fieldSelector = "spec.nodeName=" + nodeName_});
  std::lock_guard lock(mu_);
  if (!pods) {
    reason_ = "listing the pods of node " + nodeName_ + ": " + pods.error().message;
    log::warn("probe", "{}", reason_);
    return;
  }
  reason_ = evaluate(*pods, runtimeClass_, nodeName_);
  if (reason_.empty()) {
    ready_ = true;
    log::info("probe", "the {} pods on node {} are Ready", runtimeClass_, nodeName_);
  }
}

}  // namespace pp::adaptor
