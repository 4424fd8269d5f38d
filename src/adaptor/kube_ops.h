// The adaptor's Kubernetes side on the real API client, the objects as upstream names them:
//  - a PeerPod per pod VM (<pod>-resource-<5 chars>, owned by the pod, finalizer
//    peer.pod/finalizer, spec {cloudProvider, instanceID}), whose finalizer is removed once the
//    instance is deleted;
//  - Kubernetes Events on the pod for each phase and failure, posted from a background thread
//    so that a slow API server never holds up StartVM;
//  - the pod's and its service account's image-pull secrets merged into auth.json;
//  - the node's kata.peerpods.io/vm capacity, advertised at start and withdrawn at shutdown
//    only by the adaptor that still owns the node (annotation kata.peerpods.io/caa-owner = the
//    adaptor pod's UID, as upstream), so that during a rolling update the old adaptor cannot
//    remove what the new one advertised. Our earlier releases used peerpods.io/caa-owner = the
//    pod's name; it is recognised too, so a rolling update from or back to them is safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "adaptor/kube_hooks.h"
#include "k8s/client.h"

namespace pp::adaptor {

inline constexpr const char* kVmResource = "kata.peerpods.io/vm";
inline constexpr const char* kOwnerAnnotation = "kata.peerpods.io/caa-owner";
// The owner annotation of our releases before upstream's name was adopted.
inline constexpr const char* kLegacyOwnerAnnotation = "peerpods.io/caa-owner";

struct KubeOpsOptions {
  std::string cloudProvider;  // PeerPod spec.cloudProvider ($CLOUD_PROVIDER)
  std::string nodeName;       // $NODE_NAME; "" disables node capacity
  std::string ownerId;        // this adaptor instance ($POD_UID, else $POD_NAME, host and pid)
  size_t maxQueuedEvents = 1000;
};

class KubeOps final : public KubeHooks {
 public:
  KubeOps(std::shared_ptr<const k8s::Client> client, KubeOpsOptions options);
  ~KubeOps() override;

  PodInfo podInfo(const std::string& ns, const std::string& name) override;
  Result<std::string> createPeerPod(const SandboxState& s) override;
  Status releasePeerPod(const std::string& ns, const std::string& name) override;
  void event(const SandboxState& s, EventType type, const std::string& reason,
             const std::string& message) override;

  // Sets the node's capacity to `limit` and marks this adaptor as the node's owner. A negative
  // limit skips it (upstream). Errors stop the adaptor's start, as upstream.
  Status advertiseCapacity(int64_t limit);
  // Removes the capacity if this adaptor advertised it and is still the node's owner; errors
  // are only logged.
  void withdrawCapacity();
  // Waits until every queued event was posted (or failed), at most `limit`; false on timeout.
  // The destructor flushes for up to 5 s and drops what is left.
  bool flushEvents(std::chrono::milliseconds limit = std::chrono::seconds(5));

 private:
  void postEvents();

  std::shared_ptr<const k8s::Client> client_;
  KubeOpsOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<k8s::Json> events_;
  bool posting_ = false;
  bool stopping_ = false;
  std::atomic<bool> advertised_{false};
  std::thread poster_;
};

// auth.json content ({"auths": {registry: {"auth": base64(user:password)}}}) merged from
// kubernetes.io/dockerconfigjson and kubernetes.io/dockercfg Secrets, later ones winning for
// the same registry; "" when none holds a credential. Raw usernames and passwords are not
// carried over. Malformed secrets are skipped (their names are added to `skipped`).
std::string mergeImagePullSecrets(const std::vector<k8s::Json>& secrets,
                                  std::vector<std::string>* skipped = nullptr);

// <pod>-resource-<5 random chars from the Kubernetes name alphabet>.
std::string peerPodName(const std::string& podName);

}  // namespace pp::adaptor
