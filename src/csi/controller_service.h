// csi.v1.Controller of csi-controller-wrapper. CreateVolume with StorageClass parameter
// peerpod creates the volume's PeerpodVolume; ControllerPublishVolume of a peer-pod volume is
// cached instead of done (the worker node must not get the disk) and answered with a fake
// publish context; once the node wrapper has put the VM ID in the CR (peerPodVSIIDReady),
// sync() replays the attach against the VM; ControllerUnpublishVolume detaches from the VM and
// resets the CR. Every other RPC, and every RPC of a volume without a CR, is passed through.
#pragma once

#include <memory>

#include "csi/monitor.h"
#include "csi/target.h"
#include "csi/volume_client.h"

namespace pp::csi {

#define PP_CSI_PASS(Stub, Method)                                                                  \
  grpc::Status Method(grpc::ServerContext* ctx, const ::csi::v1::Method##Request* req,             \
                      ::csi::v1::Method##Response* resp) override {                                \
    return forward(*target_, ctx,                                                                  \
                   [&](grpc::ClientContext* c) { return target_->Stub().Method(c, *req, resp); }); \
  }

class ControllerService final : public ::csi::v1::Controller::Service {
 public:
  ControllerService(std::shared_ptr<Target> target, std::shared_ptr<VolumeClient> volumes)
      : target_(std::move(target)), volumes_(std::move(volumes)) {}

  grpc::Status CreateVolume(grpc::ServerContext* ctx, const ::csi::v1::CreateVolumeRequest* req,
                            ::csi::v1::CreateVolumeResponse* resp) override;
  grpc::Status DeleteVolume(grpc::ServerContext* ctx, const ::csi::v1::DeleteVolumeRequest* req,
                            ::csi::v1::DeleteVolumeResponse* resp) override;
  grpc::Status ControllerPublishVolume(grpc::ServerContext* ctx,
                                       const ::csi::v1::ControllerPublishVolumeRequest* req,
                                       ::csi::v1::ControllerPublishVolumeResponse* resp) override;
  grpc::Status ControllerUnpublishVolume(
      grpc::ServerContext* ctx, const ::csi::v1::ControllerUnpublishVolumeRequest* req,
      ::csi::v1::ControllerUnpublishVolumeResponse* resp) override;

  PP_CSI_PASS(controller, ValidateVolumeCapabilities)
  PP_CSI_PASS(controller, ListVolumes)
  PP_CSI_PASS(controller, GetCapacity)
  PP_CSI_PASS(controller, ControllerGetCapabilities)
  PP_CSI_PASS(controller, CreateSnapshot)
  PP_CSI_PASS(controller, DeleteSnapshot)
  PP_CSI_PASS(controller, ListSnapshots)
  PP_CSI_PASS(controller, ControllerExpandVolume)
  PP_CSI_PASS(controller, ControllerGetVolume)
  PP_CSI_PASS(controller, ControllerModifyVolume)

  // The informer's handler: replays ControllerPublishVolume for a CR in peerPodVSIIDReady.
  SyncResult sync(const Json& volume);

 private:
  std::shared_ptr<Target> target_;
  std::shared_ptr<VolumeClient> volumes_;
};

}  // namespace pp::csi
