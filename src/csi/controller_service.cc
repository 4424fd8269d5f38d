#include "csi/controller_service.h"

#include "base/log.h"
#include "csi/names.h"
#include "csi/state_machine.h"

namespace pp::csi {

namespace {

constexpr char kLog[] = "csi-controller-wrapper";

// States in which the VM side has taken over: a repeated cache call must not move them back.
bool vmSideStarted(const std::string& s) {
  return s == state::kPeerPodVSIRunning || s == state::kPeerPodVSIIDReady ||
         s.find("Applied") != std::string::npos;
}

}  // namespace

grpc::Status ControllerService::CreateVolume(grpc::ServerContext* ctx,
                                             const ::csi::v1::CreateVolumeRequest* req,
                                             ::csi::v1::CreateVolumeResponse* resp) {
  ::csi::v1::CreateVolumeRequest forwarded = *req;
  std::string peerpod;
  auto& params = *forwarded.mutable_parameters();
  if (auto it = params.find(kPeerpodParamKey); it != params.end()) {
    peerpod = it->second;
    // A vendor driver may refuse parameters it does not know.
    if (!peerpod.empty()) params.erase(it);
  }
  auto st = forward(*target_, ctx, [&](grpc::ClientContext* c) {
    return target_->controller().CreateVolume(c, forwarded, resp);
  });
  if (!st.ok() || peerpod.empty()) return st;
  std::string name = normalizeVolumeId(resp->volume().volume_id());
  auto created = volumes_->create(newVolume(volumes_->ns(), name, req->name()));
  if (!created && !k8s::isAlreadyExists(created.error())) {
    log::error(kLog, "creating PeerpodVolume {}/{} for volume {}: {}", volumes_->ns(), name,
               req->name(), created.error().message);
    return toGrpc(created.error().wrap("creating the PeerpodVolume"));
  }
  log::info(kLog, "volume {} ({}) is a peer-pod volume: PeerpodVolume {}/{}", req->name(),
            resp->volume().volume_id(), volumes_->ns(), name);
  return st;
}

grpc::Status ControllerService::DeleteVolume(grpc::ServerContext* ctx,
                                             const ::csi::v1::DeleteVolumeRequest* req,
                                             ::csi::v1::DeleteVolumeResponse* resp) {
  auto st = forward(*target_, ctx, [&](grpc::ClientContext* c) {
    return target_->controller().DeleteVolume(c, *req, resp);
  });
  if (!st.ok()) return st;
  std::string name = normalizeVolumeId(req->volume_id());
  if (auto r = volumes_->remove(name); !r) {
    if (k8s::isNotFound(r.error())) return st;
    log::warn(kLog, "deleting PeerpodVolume {}/{}: {}", volumes_->ns(), name, r.error().message);
    return toGrpc(r.error().wrap("deleting the PeerpodVolume"));
  }
  log::info(kLog, "PeerpodVolume {}/{} deleted with its volume", volumes_->ns(), name);
  return st;
}

grpc::Status ControllerService::ControllerPublishVolume(
    grpc::ServerContext* ctx, const ::csi::v1::ControllerPublishVolumeRequest* req,
    ::csi::v1::ControllerPublishVolumeResponse* resp) {
  std::string name = normalizeVolumeId(req->volume_id());
  auto volume = volumes_->get(name);
  if (!volume) {
    if (!k8s::isNotFound(volume.error())) return toGrpc(volume.error());
    auto it = req->volume_context().find(kPeerpodParamKey);
    if (it == req->volume_context().end() || it->second.empty()) {
      // Not a peer-pod volume: the vendor attaches it to the worker (and nothing else happens).
      return forward(*target_, ctx, [&](grpc::ClientContext* c) {
        return target_->controller().ControllerPublishVolume(c, *req, resp);
      });
    }
    // A static PV (volumeAttributes.peerpod): its CR is made now; NodePublishVolume names it.
    volume = volumes_->create(newVolume(volumes_->ns(), name, kVolumeNamePlaceholder));
    if (!volume && k8s::isAlreadyExists(volume.error())) volume = volumes_->get(name);
    if (!volume) return toGrpc(volume.error().wrap("creating the PeerpodVolume"));
    log::info(kLog, "static peer-pod volume {}: PeerpodVolume {}/{} created", req->volume_id(),
              volumes_->ns(), name);
  }
  for (const auto& [k, v] : fakePublishContext(name, newRequestId())) {
    (*resp->mutable_publish_context())[k] = v;
  }
  std::string current = stateOf(*volume);
  if (vmSideStarted(current) && specOf(*volume, "nodeID") == req->node_id()) {
    // The attacher asking again: the replay is under way or done; keep the CR's state.
    return grpc::Status::OK;
  }
  ::csi::v1::ControllerPublishVolumeRequest cachedReq = *req;
  cachedReq.mutable_volume_context()->erase(kPeerpodParamKey);
  std::string reqJson = toJson(cachedReq), resJson = toJson(*resp);
  auto r = volumes_->modify(
      name,
      [&](Json& v) {
        setLabel(v, "nodeID", req->node_id());
        setSpec(v, "nodeID", req->node_id());
        setSpec(v, "wrapperControllerPublishVolumeReq", reqJson);
        setSpec(v, "wrapperControllerPublishVolumeRes", resJson);
        return true;
      },
      state::kControllerPublishVolumeCached);
  if (!r) return toGrpc(r.error().wrap("caching ControllerPublishVolume"));
  log::info(kLog, "ControllerPublishVolume of {} to node {} cached (not attached to the worker)",
            req->volume_id(), req->node_id());
  return grpc::Status::OK;
}

grpc::Status ControllerService::ControllerUnpublishVolume(
    grpc::ServerContext* ctx, const ::csi::v1::ControllerUnpublishVolumeRequest* req,
    ::csi::v1::ControllerUnpublishVolumeResponse* resp) {
  std::string name = normalizeVolumeId(req->volume_id());
  auto volume = volumes_->get(name);
  if (!volume) {
    if (!k8s::isNotFound(volume.error())) return toGrpc(volume.error());
    return forward(*target_, ctx, [&](grpc::ClientContext* c) {
      return target_->controller().ControllerUnpublishVolume(c, *req, resp);
    });
  }
  // Upstream detaches only when the state names an applied step; a VM ID in the CR is the
  // better test: the attach may have been replayed while the state has moved on to
  // node{Unpublish,Unstage}VolumeCached (a pod VM that went away before its replays).
  std::string vmId = specOf(*volume, "vmID");
  if (!vmId.empty() || stateOf(*volume).find("Applied") != std::string::npos) {
    auto real = controllerUnpublishForVm(*req, *volume);
    real.set_node_id(nodeIdForVm(vmId));
    ::csi::v1::ControllerUnpublishVolumeResponse ignored;
    auto st = forward(*target_, ctx, [&](grpc::ClientContext* c) {
      return target_->controller().ControllerUnpublishVolume(c, real, &ignored);
    });
    if (!st.ok()) {
      log::error(kLog, "ControllerUnpublishVolume of {} from VM {}: {}", req->volume_id(), vmId,
                 st.error_message());
      return st;  // the attacher retries; the CR keeps what the retry needs
    }
    log::info(kLog, "volume {} detached from VM {} (node_id {})", req->volume_id(), vmId,
              real.node_id());
  }
  auto r = volumes_->modify(
      name,
      [](Json& v) {
        v = resetVolume(std::move(v));
        return true;
      },
      "");
  if (!r) return toGrpc(r.error().wrap("resetting the PeerpodVolume"));
  log::info(kLog, "PeerpodVolume {}/{} reset", volumes_->ns(), name);
  return grpc::Status::OK;
}

SyncResult ControllerService::sync(const Json& cached) {
  std::string name = k8s::field(cached, "metadata", "name");
  if (controllerAction(cached) != ControllerAction::kReplayPublish) return SyncResult::kDone;
  auto volume = volumes_->get(name);  // the informer's copy may be behind our own writes
  if (!volume) return k8s::isNotFound(volume.error()) ? SyncResult::kDone : SyncResult::kRetry;
  if (controllerAction(*volume) != ControllerAction::kReplayPublish) return SyncResult::kDone;
  auto req = controllerPublishReplay(*volume);
  if (!req) {
    log::error(kLog, "PeerpodVolume {}/{}: cannot replay ControllerPublishVolume: {}",
               volumes_->ns(), name, req.error().message);
    return SyncResult::kDone;
  }
  ::csi::v1::ControllerPublishVolumeResponse resp;
  auto ctx = target_->context(nullptr);
  auto st = target_->controller().ControllerPublishVolume(ctx.get(), *req, &resp);
  if (!st.ok()) {
    log::error(kLog, "replaying ControllerPublishVolume of {} to VM {}: {}", req->volume_id(),
               req->node_id(), st.error_message());
    return SyncResult::kRetry;
  }
  std::string devicePath;
  if (auto it = resp.publish_context().find(kPublishDevicePath);
      it != resp.publish_context().end()) {
    devicePath = it->second;
  }
  log::info(kLog, "ControllerPublishVolume of {} replayed to VM {} (node_id {}), device-path {}",
            req->volume_id(), specOf(*volume, "vmID"), req->node_id(), devicePath);
  std::string resJson = toJson(resp);
  auto r = volumes_->modify(
      name,
      [&](Json& v) {
        if (stateOf(v) != state::kPeerPodVSIIDReady) return false;
        setSpec(v, "wrapperControllerPublishVolumeRes", resJson);
        setSpec(v, "devicePath", devicePath);
        return true;
      },
      state::kControllerPublishVolumeApplied);
  if (!r) {
    log::error(kLog, "PeerpodVolume {}/{}: recording the attach: {}", volumes_->ns(), name,
               r.error().message);
    return SyncResult::kRetry;
  }
  return SyncResult::kDone;
}

}  // namespace pp::csi
