// The Kata shim's side of a pod's life, against a real provider: a SandboxManager over the
// provider, served by the real HypervisorService on a unix socket, and called over ttrpc as the
// shim calls it (hypervisor.Hypervisor CreateVM, StartVM, StopVM). The pod network, Kubernetes,
// the state store and the agent proxy are the in-memory ones of memory_parts.h (the proxy is
// ready at once), so the provider is the only thing that talks to something real (a fake
// cloud, a simulator, a daemon). Providers' tests use it to check that a whole pod's life makes
// exactly one instance and deletes it.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adaptor/testing/memory_parts.h"
#include "base/error.h"
#include "providers/provider.h"

namespace pp::adaptor::testing {

class LifecycleDriver {
 public:
  explicit LifecycleDriver(providers::Provider& provider);
  ~LifecycleDriver();
  LifecycleDriver(const LifecycleDriver&) = delete;
  LifecycleDriver& operator=(const LifecycleDriver&) = delete;

  // CreateVM with the pod's annotations; the sandbox name and namespace annotations default to
  // "pod-<first 8 of id>" and "default", and the network namespace to /run/netns/<id> (the
  // in-memory network only records it).
  Status createVM(const std::string& sandboxId,
                  std::map<std::string, std::string> annotations = {});
  // StartVM with the shim's deadline (default: the shim's remote_hypervisor_timeout, 600 s).
  Status startVM(const std::string& sandboxId,
                 std::chrono::seconds timeout = std::chrono::seconds(600));
  Status stopVM(const std::string& sandboxId);

  // What the manager saved for the sandbox: the provider's instance id ("" before StartVM made
  // one, or after StopVM) and the VM's addresses.
  std::string instanceId(const std::string& sandboxId) const;
  std::vector<std::string> vmIps(const std::string& sandboxId) const;
  // The Kubernetes events the manager raised, in order ("CreatingPodVM", ...).
  std::vector<std::string> events() const;
  // The tunnels the manager set up and not yet torn down (netns -> VM addresses).
  size_t openTunnels() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pp::adaptor::testing
