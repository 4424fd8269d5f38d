#include "csi/node_service.h"

#include <filesystem>

#include "base/log.h"
#include "csi/names.h"
#include "csi/state_machine.h"

namespace pp::csi {

namespace {

constexpr char kLog[] = "csi-node-wrapper";

bool vmSideStarted(const std::string& s) {
  return s == state::kPeerPodVSIRunning || s == state::kPeerPodVSIIDReady ||
         s.find("Applied") != std::string::npos;
}

Status makeDir(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return fail(Code::kInternal, "creating " + path + ": " + ec.message());
  return {};
}

// Caches `reqJson` under `key` and moves to `next`; a stage or publish asked again after the VM
// side has taken over keeps the state (the VM's replays go on from it).
grpc::Status cache(const VolumeClient& volumes, const std::string& name, const char* key,
                   const std::string& reqJson, const char* next, bool keepVmSideState,
                   const std::function<void(Json&)>& more = {}) {
  auto current = volumes.get(name);
  if (!current) return toGrpc(current.error());
  std::string nextState = next;
  if (keepVmSideState && vmSideStarted(stateOf(*current))) nextState = stateOf(*current);
  auto r = volumes.modify(
      name,
      [&](Json& v) {
        setSpec(v, key, reqJson);
        if (more) more(v);
        return true;
      },
      nextState);
  if (!r) return toGrpc(r.error().wrap(std::string("caching ") + key));
  return grpc::Status::OK;
}

}  // namespace

grpc::Status NodeService::NodeStageVolume(grpc::ServerContext* ctx,
                                          const ::csi::v1::NodeStageVolumeRequest* req,
                                          ::csi::v1::NodeStageVolumeResponse* resp) {
  std::string name = normalizeVolumeId(req->volume_id());
  auto volume = volumes_->get(name);
  if (!volume) {
    if (!k8s::isNotFound(volume.error())) return toGrpc(volume.error());
    return forward(*target_, ctx, [&](grpc::ClientContext* c) {
      return target_->node().NodeStageVolume(c, *req, resp);
    });
  }
  if (auto m = makeDir(req->staging_target_path()); !m) return toGrpc(m.error());
  auto st = cache(*volumes_, name, "wrapperNodeStageVolumeReq", toJson(*req),
                  state::kNodeStageVolumeCached, true,
                  [&](Json& v) { setSpec(v, "stagingTargetPath", req->staging_target_path()); });
  if (st.ok()) {
    log::info(kLog, "NodeStageVolume of {} at {} cached for the pod VM", req->volume_id(),
              req->staging_target_path());
  }
  return st;
}

grpc::Status NodeService::NodePublishVolume(grpc::ServerContext* ctx,
                                            const ::csi::v1::NodePublishVolumeRequest* req,
                                            ::csi::v1::NodePublishVolumeResponse* resp) {
  std::string name = normalizeVolumeId(req->volume_id());
  auto volume = volumes_->get(name);
  if (!volume) {
    if (!k8s::isNotFound(volume.error())) return toGrpc(volume.error());
    return forward(*target_, ctx, [&](grpc::ClientContext* c) {
      return target_->node().NodePublishVolume(c, *req, resp);
    });
  }
  auto parts = parseTargetPath(req->target_path());
  if (!parts) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "target path " + req->target_path() +
                            " is not <kubelet>/pods/<uid>/volumes/kubernetes.io~csi/<pv>/mount");
  }
  std::string savedName = specOf(*volume, "volumeName");
  if (savedName != parts->volumeName && savedName != kVolumeNamePlaceholder) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "the volume name " + parts->volumeName + " in the target path is not " +
                            savedName + " of PeerpodVolume " + name);
  }
  if (auto m = makeDir(req->target_path()); !m) return toGrpc(m.error());
  if (auto d = directVolumes_.add(req->target_path()); !d) return toGrpc(d.error());
  auto st = cache(*volumes_, name, "wrapperNodePublishVolumeReq", toJson(*req),
                  state::kNodePublishVolumeCached, true, [&](Json& v) {
                    setSpec(v, "targetPath", req->target_path());
                    setSpec(v, "podUid", parts->podUid);
                    setLabel(v, "podUid", parts->podUid);
                    if (specOf(v, "volumeName") == kVolumeNamePlaceholder) {
                      setSpec(v, "volumeName", parts->volumeName);
                      setLabel(v, "volumeName", parts->volumeName);
                    }
                  });
  if (st.ok()) {
    log::info(kLog, "NodePublishVolume of {} for pod {} at {} cached for the pod VM",
              req->volume_id(), parts->podUid, req->target_path());
  }
  return st;
}

grpc::Status NodeService::NodeUnpublishVolume(grpc::ServerContext* ctx,
                                              const ::csi::v1::NodeUnpublishVolumeRequest* req,
                                              ::csi::v1::NodeUnpublishVolumeResponse* resp) {
  std::string name = normalizeVolumeId(req->volume_id());
  auto volume = volumes_->get(name);
  if (!volume) {
    if (!k8s::isNotFound(volume.error())) return toGrpc(volume.error());
    return forward(*target_, ctx, [&](grpc::ClientContext* c) {
      return target_->node().NodeUnpublishVolume(c, *req, resp);
    });
  }
  std::error_code ec;
  std::filesystem::remove_all(req->target_path(), ec);
  if (ec) log::warn(kLog, "removing {}: {}", req->target_path(), ec.message());
  if (auto d = directVolumes_.remove(req->target_path()); !d) {
    log::warn(kLog, "{}", d.error().message);
  }
  auto st = cache(*volumes_, name, "wrapperNodeUnpublishVolumeReq", toJson(*req),
                  state::kNodeUnpublishVolumeCached, false);
  if (st.ok()) log::info(kLog, "NodeUnpublishVolume of {} cached", req->volume_id());
  return st;
}

grpc::Status NodeService::NodeUnstageVolume(grpc::ServerContext* ctx,
                                            const ::csi::v1::NodeUnstageVolumeRequest* req,
                                            ::csi::v1::NodeUnstageVolumeResponse* resp) {
  std::string name = normalizeVolumeId(req->volume_id());
  auto volume = volumes_->get(name);
  if (!volume) {
    if (!k8s::isNotFound(volume.error())) return toGrpc(volume.error());
    return forward(*target_, ctx, [&](grpc::ClientContext* c) {
      return target_->node().NodeUnstageVolume(c, *req, resp);
    });
  }
  std::error_code ec;
  std::filesystem::remove_all(req->staging_target_path(), ec);
  if (ec) log::warn(kLog, "removing {}: {}", req->staging_target_path(), ec.message());
  auto st = cache(*volumes_, name, "wrapperNodeUnstageVolumeReq", toJson(*req),
                  state::kNodeUnstageVolumeCached, false);
  if (st.ok()) log::info(kLog, "NodeUnstageVolume of {} cached", req->volume_id());
  return st;
}

SyncResult NodeService::sync(const Json& cached) {
  if (nodeAction(cached, podNodeName_) != NodeAction::kFetchVmId) return SyncResult::kDone;
  std::string name = k8s::field(cached, "metadata", "name");
  auto volume = volumes_->get(name);
  if (!volume) return k8s::isNotFound(volume.error()) ? SyncResult::kDone : SyncResult::kRetry;
  if (nodeAction(*volume, podNodeName_) != NodeAction::kFetchVmId) return SyncResult::kDone;
  std::string podName = specOf(*volume, "podName"), podNs = specOf(*volume, "podNamespace");
  auto vmId = vmIds_->vmId(podName, podNs);
  if (!vmId) {
    log::warn(kLog, "VM ID of pod {}/{} (PeerpodVolume {}): {}; trying again", podNs, podName, name,
              vmId.error().message);
    return SyncResult::kRetry;
  }
  auto r = volumes_->modify(
      name,
      [&](Json& v) {
        if (stateOf(v) != state::kPeerPodVSIRunning) return false;
        setSpec(v, "vmID", *vmId);
        setLabel(v, "vmID", normalizeVmId(*vmId));
        return true;
      },
      state::kPeerPodVSIIDReady);
  if (!r) {
    log::error(kLog, "PeerpodVolume {}/{}: recording VM ID {}: {}", volumes_->ns(), name, *vmId,
               r.error().message);
    return SyncResult::kRetry;
  }
  log::info(kLog, "pod {}/{} runs in VM {}: PeerpodVolume {} is {}", podNs, podName, *vmId, name,
            state::kPeerPodVSIIDReady);
  return SyncResult::kDone;
}

}  // namespace pp::csi
