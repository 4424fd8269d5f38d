#include "csi/podvm_service.h"

#include <algorithm>
#include <thread>

#include "base/log.h"
#include "csi/state_machine.h"

namespace pp::csi {

namespace {
constexpr char kLog[] = "csi-podvm-wrapper";
}

Result<int> PodVmService::claim() {
  auto list = volumes_->listByPodUid(pod_.uid);
  if (!list) return fail(list.error().wrap("listing PeerpodVolumes of pod " + pod_.uid));
  int count = 0;
  for (const auto& item : (*list)["items"]) {
    std::string name = k8s::field(item, "metadata", "name");
    // A restarted podvm wrapper finds its CRs further on: it keeps their state, and the
    // informer's sync goes on from there (upstream sets peerPodVSIRunning again, after which
    // nothing replays the attach: devicePath is already set).
    std::string current = stateOf(item), next = state::kPeerPodVSIRunning;
    if (!current.empty() && current != state::kControllerPublishVolumeCached &&
        current != state::kNodeStageVolumeCached && current != state::kNodePublishVolumeCached) {
      next = current;
    }
    auto r = volumes_->modify(
        name,
        [&](Json& v) {
          v = claimVolume(std::move(v), pod_.name, pod_.ns, pod_.nodeName);
          return true;
        },
        next);
    if (!r) return fail(r.error().wrap("claiming PeerpodVolume " + name));
    log::info(kLog, "PeerpodVolume {}/{} (volume {}) runs in this pod VM: {}", volumes_->ns(), name,
              specOf(*r, "volumeName"), next);
    ++count;
  }
  return count;
}

template <typename Req, typename Resp, typename Call>
bool PodVmService::replay(const std::string& what, const Req& req, int attempts, Call call) {
  auto delay = retryBase_;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    Resp resp;
    auto ctx = target_->context(nullptr);
    auto st = call(ctx.get(), req, &resp);
    if (st.ok()) {
      log::info(kLog, "{} of {} replayed in the pod VM (attempt {})", what, req.volume_id(),
                attempt);
      return true;
    }
    log::warn(kLog, "{} of {} (attempt {}/{}): {}", what, req.volume_id(), attempt, attempts,
              st.error_message());
    if (attempt < attempts) {
      std::this_thread::sleep_for(delay);
      delay = std::min(delay * 2, std::chrono::milliseconds(5000));
    }
  }
  return false;
}

SyncResult PodVmService::sync(const Json& cached) {
  if (podVmAction(cached, pod_.name, pod_.ns) == PodVmAction::kNone) return SyncResult::kDone;
  std::string name = k8s::field(cached, "metadata", "name");
  auto volume = volumes_->get(name);
  if (!volume) return k8s::isNotFound(volume.error()) ? SyncResult::kDone : SyncResult::kRetry;
  PodVmAction action = podVmAction(*volume, pod_.name, pod_.ns);
  std::string from = stateOf(*volume);
  std::string next;
  bool ok = false;
  switch (action) {
    case PodVmAction::kNone:
      return SyncResult::kDone;
    case PodVmAction::kReplayStage: {
      if (specOf(*volume, "wrapperNodeStageVolumeReq").empty()) {
        // kubelet never stages for a driver without STAGE_UNSTAGE_VOLUME: publish comes next.
        log::info(kLog, "PeerpodVolume {}/{}: no NodeStageVolume to replay", volumes_->ns(), name);
        ok = true;
        next = state::kNodeStageVolumeApplied;
        break;
      }
      auto req = nodeStageReplay(*volume);
      if (!req) break;
      ok = replay<::csi::v1::NodeStageVolumeRequest, ::csi::v1::NodeStageVolumeResponse>(
          "NodeStageVolume", *req, kReplayAttempts, [&](auto* c, const auto& r, auto* resp) {
            return target_->node().NodeStageVolume(c, r, resp);
          });
      next = state::kNodeStageVolumeApplied;
      break;
    }
    case PodVmAction::kReplayPublish: {
      auto req = nodePublishReplay(*volume);
      if (!req) break;
      ok = replay<::csi::v1::NodePublishVolumeRequest, ::csi::v1::NodePublishVolumeResponse>(
          "NodePublishVolume", *req, kReplayAttempts, [&](auto* c, const auto& r, auto* resp) {
            return target_->node().NodePublishVolume(c, r, resp);
          });
      next = state::kNodePublishVolumeApplied;
      break;
    }
    case PodVmAction::kReplayUnpublish: {
      auto req = nodeUnpublishReplay(*volume);
      if (!req) break;
      ok = replay<::csi::v1::NodeUnpublishVolumeRequest, ::csi::v1::NodeUnpublishVolumeResponse>(
          "NodeUnpublishVolume", *req, 1, [&](auto* c, const auto& r, auto* resp) {
            return target_->node().NodeUnpublishVolume(c, r, resp);
          });
      next = state::kNodeUnpublishVolumeApplied;
      if (!ok) return SyncResult::kRetry;
      break;
    }
    case PodVmAction::kReplayUnstage: {
      auto req = nodeUnstageReplay(*volume);
      if (!req) break;
      ok = replay<::csi::v1::NodeUnstageVolumeRequest, ::csi::v1::NodeUnstageVolumeResponse>(
          "NodeUnstageVolume", *req, 1, [&](auto* c, const auto& r, auto* resp) {
            return target_->node().NodeUnstageVolume(c, r, resp);
          });
      next = state::kNodeUnstageVolumeApplied;
      if (!ok) return SyncResult::kRetry;
      break;
    }
  }
  if (next.empty()) {
    log::error(kLog, "PeerpodVolume {}/{} in state {}: the cached request is missing or bad",
               volumes_->ns(), name, from);
    return SyncResult::kDone;
  }
  if (!ok) {
    log::error(kLog, "PeerpodVolume {}/{}: gave up after {} attempts in state {}", volumes_->ns(),
               name, kReplayAttempts, from);
    return SyncResult::kDone;
  }
  auto r = volumes_->modify(
      name, [&](Json& v) { return stateOf(v) == from; }, next);
  if (!r) {
    log::error(kLog, "PeerpodVolume {}/{}: recording {}: {}", volumes_->ns(), name, next,
               r.error().message);
    return SyncResult::kRetry;
  }
  return SyncResult::kDone;
}

}  // namespace pp::csi
