// The Kubernetes half of the /startup probe (upstream pkg/probe): the adaptor is started once
// the peer pods on its node are Ready. A background thread lists the node's pods (field
// selector spec.nodeName) every few seconds until that holds once; the probe reads the cached
// answer, so it never waits on the API server.
//
// Difference from upstream: upstream also requires each Ready transition to be later than the
// adaptor's start, because its restart loses every pod VM and the pods must come back. This
// adaptor reattaches to its pod VMs, so a pod that stayed Ready across the restart counts; pods
// still Pending (being created) are not waited for, as their start may take arbitrarily long.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include "k8s/client.h"

namespace pp::adaptor {

class PodsReadiness {
 public:
  PodsReadiness(std::shared_ptr<const k8s::Client> client, std::string nodeName,
                std::string runtimeClass,
                std::chrono::milliseconds interval = std::chrono::seconds(5));
  ~PodsReadiness();

  // "" once every running peer pod on the node was Ready at one check (then always ""); else
  // the reason, naming the pods still waited for.
  std::string notReadyReason() const;

  // One check of a PodList: "" or the reason.
  static std::string evaluate(const k8s::Json& podList, const std::string& runtimeClass,
                              const std::string& nodeName);

 private:
  void check();

  std::shared_ptr<const k8s::Client> client_;
  std::string nodeName_;
  std::string runtimeClass_;
  std::chrono::milliseconds interval_;
  mutable std::mutex mu_;
  std::string reason_;
  bool ready_ = false;
  std::jthread thread_;
};

}  // namespace pp::adaptor
