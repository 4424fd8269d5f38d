// csi.v1.Node of csi-node-wrapper (on the worker). For a volume with a PeerpodVolume, stage
// and publish are not done on the worker: the paths are made (kubelet checks them), the
// target path gets a Kata direct-volume entry (so the shim does not share it into the VM and the
// adaptor names it to the forwarder), and the request is cached in the CR for the podvm wrapper
// to replay inside the VM; unpublish and unstage undo that and are cached for the same reason.
// sync() asks the adaptor for the VM ID of a CR the podvm wrapper has claimed on this node.
#pragma once

#include <memory>
#include <string>

#include "csi/controller_service.h"  // PP_CSI_PASS
#include "csi/direct_volume.h"
#include "csi/vm_id_source.h"

namespace pp::csi {

class NodeService final : public ::csi::v1::Node::Service {
 public:
  NodeService(std::shared_ptr<Target> target, std::shared_ptr<VolumeClient> volumes,
              DirectVolumes directVolumes, std::shared_ptr<VmIdSource> vmIds,
              std::string podNodeName)
      : target_(std::move(target)),
        volumes_(std::move(volumes)),
        directVolumes_(std::move(directVolumes)),
        vmIds_(std::move(vmIds)),
        podNodeName_(std::move(podNodeName)) {}

  grpc::Status NodeStageVolume(grpc::ServerContext* ctx,
                               const ::csi::v1::NodeStageVolumeRequest* req,
                               ::csi::v1::NodeStageVolumeResponse* resp) override;
  grpc::Status NodeUnstageVolume(grpc::ServerContext* ctx,
                                 const ::csi::v1::NodeUnstageVolumeRequest* req,
                                 ::csi::v1::NodeUnstageVolumeResponse* resp) override;
  grpc::Status NodePublishVolume(grpc::ServerContext* ctx,
                                 const ::csi::v1::NodePublishVolumeRequest* req,
                                 ::csi::v1::NodePublishVolumeResponse* resp) override;
  grpc::Status NodeUnpublishVolume(grpc::ServerContext* ctx,
                                   const ::csi::v1::NodeUnpublishVolumeRequest* req,
                                   ::csi::v1::NodeUnpublishVolumeResponse* resp) override;
  PP_CSI_PASS(node, NodeGetVolumeStats)
  PP_CSI_PASS(node, NodeExpandVolume)
  PP_CSI_PASS(node, NodeGetCapabilities)
  PP_CSI_PASS(node, NodeGetInfo)

  // The informer's handler: peerPodVSIRunning on this node -> VM ID -> peerPodVSIIDReady.
  SyncResult sync(const Json& volume);

 private:
  std::shared_ptr<Target> target_;
  std::shared_ptr<VolumeClient> volumes_;
  DirectVolumes directVolumes_;
  std::shared_ptr<VmIdSource> vmIds_;
  std::string podNodeName_;
};

}  // namespace pp::csi
