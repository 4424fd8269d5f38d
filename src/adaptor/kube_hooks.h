// What the sandbox manager asks of Kubernetes, as a small interface so that the manager does
// not depend on the API client and tests can pass their own. The real implementation is
// KubeOps (kube_ops.h); without Kubernetes the manager has no hooks and skips all of this.
#pragma once

#include <string>

#include "adaptor/sandbox_state.h"
#include "base/error.h"

namespace pp::adaptor {

struct PodInfo {
  std::string uid;       // "" when the pod could not be read
  std::string authJson;  // merged registry credentials for /run/peerpod/auth.json, or ""
};

enum class EventType { kNormal, kWarning };

class KubeHooks {
 public:
  virtual ~KubeHooks() = default;
  // At CreateVM. Failures are logged by the implementation and give an empty PodInfo.
  virtual PodInfo podInfo(const std::string& ns, const std::string& name) = 0;
  // Right after the instance exists: creates the PeerPod guarding it; returns its name.
  virtual Result<std::string> createPeerPod(const SandboxState& s) = 0;
  // After the instance was deleted: removes the PeerPod's finalizer (a missing PeerPod is
  // success).
  virtual Status releasePeerPod(const std::string& ns, const std::string& name) = 0;
  // A Kubernetes Event on the sandbox's pod; never blocks on the API server.
  virtual void event(const SandboxState& s, EventType type, const std::string& reason,
                     const std::string& message) = 0;
};

}  // namespace pp::adaptor
