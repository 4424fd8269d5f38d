// csi.v1.Node of csi-podvm-wrapper (inside the pod VM, next to the vendor's node plugin): every
// RPC is passed through. At start, claim() marks the pod's PeerpodVolumes (label podUid) as
// running in this pod's VM; sync() then replays the cached stage and publish once the controller
// wrapper has attached the volume to the VM (bounded retries), and unpublish and unstage at
// teardown.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "csi/controller_service.h"  // PP_CSI_PASS

namespace pp::csi {

struct PodIdentity {
  std::string name;      // POD_NAME
  std::string ns;        // POD_NAME_SPACE
  std::string uid;       // POD_UID
  std::string nodeName;  // POD_NODE_NAME
};

class PodVmService final : public ::csi::v1::Node::Service {
 public:
  // Stage and publish are tried this often before giving up (upstream: 21).
  static constexpr int kReplayAttempts = 21;

  PodVmService(std::shared_ptr<Target> target, std::shared_ptr<VolumeClient> volumes,
               PodIdentity pod,
               std::chrono::milliseconds retryBase = std::chrono::milliseconds(200))
      : target_(std::move(target)),
        volumes_(std::move(volumes)),
        pod_(std::move(pod)),
        retryBase_(retryBase) {}

  PP_CSI_PASS(node, NodeStageVolume)
  PP_CSI_PASS(node, NodeUnstageVolume)
  PP_CSI_PASS(node, NodePublishVolume)
  PP_CSI_PASS(node, NodeUnpublishVolume)
  PP_CSI_PASS(node, NodeGetVolumeStats)
  PP_CSI_PASS(node, NodeExpandVolume)
  PP_CSI_PASS(node, NodeGetCapabilities)
  PP_CSI_PASS(node, NodeGetInfo)

  // Sets podName, podNamespace and nodeName (spec and labels) of every PeerpodVolume labelled
  // podUid=<this pod>, then their state peerPodVSIRunning (unless the VM side has already taken
  // it further: a restart keeps the state). Returns how many.
  Result<int> claim();

  SyncResult sync(const Json& volume);

 private:
  template <typename Req, typename Resp, typename Call>
  bool replay(const std::string& what, const Req& req, int attempts, Call call);

  std::shared_ptr<Target> target_;
  std::shared_ptr<VolumeClient> volumes_;
  PodIdentity pod_;
  std::chrono::milliseconds retryBase_;
};

}  // namespace pp::csi
