// The PeerpodVolume state machine of the CSI wrappers (reference/k8s-components.md §3.4), as
// pure functions over the CR's JSON so that it is tested without servers: which actor acts on
// which state, and how each replayed request is rewritten from the requests the node-side
// wrappers cached.
//
//   controller/node wrappers cache: controllerPublishVolumeCached -> nodeStageVolumeCached ->
//   nodePublishVolumeCached; podvm wrapper start: peerPodVSIRunning; node wrapper (VM ID from
//   the adaptor): peerPodVSIIDReady; controller replays the attach: controllerPublishVolumeApplied;
//   podvm replays stage, publish: nodeStageVolumeApplied, nodePublishVolumeApplied; teardown:
//   node{Unpublish,Unstage}VolumeCached -> ...Applied (podvm); ControllerUnpublishVolume
//   detaches from the VM and resets the CR (state "").
#pragma once

#include <google/protobuf/message.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/error.h"
#include "csi/csi.pb.h"

namespace pp::csi {

using Json = nlohmann::json;

namespace state {
inline constexpr char kControllerPublishVolumeCached[] = "controllerPublishVolumeCached";
inline constexpr char kNodeStageVolumeCached[] = "nodeStageVolumeCached";
inline constexpr char kNodePublishVolumeCached[] = "nodePublishVolumeCached";
inline constexpr char kNodeUnpublishVolumeCached[] = "nodeUnpublishVolumeCached";
inline constexpr char kNodeUnstageVolumeCached[] = "nodeUnstageVolumeCached";
inline constexpr char kPeerPodVSIIDReady[] = "peerPodVSIIDReady";
inline constexpr char kPeerPodVSIRunning[] = "peerPodVSIRunning";
inline constexpr char kControllerPublishVolumeApplied[] = "controllerPublishVolumeApplied";
inline constexpr char kNodeStageVolumeApplied[] = "nodeStageVolumeApplied";
inline constexpr char kNodePublishVolumeApplied[] = "nodePublishVolumeApplied";
inline constexpr char kNodeUnpublishVolumeApplied[] = "nodeUnpublishVolumeApplied";
inline constexpr char kNodeUnstageVolumeApplied[] = "nodeUnstageVolumeApplied";
}  // namespace state

// StorageClass parameter / PV volume attribute that marks a peer-pod volume.
inline constexpr char kPeerpodParamKey[] = "peerpod";
// volumeName of a CR created for a static PV, until NodePublishVolume names the PV.
inline constexpr char kVolumeNamePlaceholder[] = "peerpod-volume-name-placeholder";
// Publish-context keys.
inline constexpr char kPublishVolumeId[] = "volume-id";
inline constexpr char kPublishNodeId[] = "node-id";
inline constexpr char kPublishStatus[] = "attach-status";
inline constexpr char kPublishDevicePath[] = "device-path";
inline constexpr char kPublishRequestId[] = "request-id";

// A spec string field of a PeerpodVolume ("" when absent), its status.state, a label.
std::string specOf(const Json& volume, std::string_view key);
std::string stateOf(const Json& volume);
std::string labelOf(const Json& volume, std::string_view key);
void setSpec(Json& volume, const std::string& key, const std::string& value);
void setLabel(Json& volume, const std::string& key, const std::string& value);

// A new PeerpodVolume object (labels {volumeName}, spec {volumeID, volumeName}).
Json newVolume(const std::string& ns, const std::string& name, const std::string& volumeName);

// The context the controller wrapper answers ControllerPublishVolume with instead of attaching.
std::map<std::string, std::string> fakePublishContext(const std::string& volumeId,
                                                      const std::string& requestId);
// A random UUID (version 4), as the fake context's request-id.
std::string newRequestId();

// What each wrapper does with a PeerpodVolume it is told about.
enum class ControllerAction { kNone, kReplayPublish };
ControllerAction controllerAction(const Json& volume);
enum class NodeAction { kNone, kFetchVmId };
NodeAction nodeAction(const Json& volume, std::string_view podNodeName);
enum class PodVmAction { kNone, kReplayStage, kReplayPublish, kReplayUnpublish, kReplayUnstage };
PodVmAction podVmAction(const Json& volume, std::string_view podName,
                        std::string_view podNamespace);

// The cached ControllerPublishVolumeRequest with node_id = the VM (nodeIdForVm(spec.vmID)).
Result<::csi::v1::ControllerPublishVolumeRequest> controllerPublishReplay(const Json& volume);
// The cached ControllerUnpublishVolume, for a volume attached to the VM: node_id = spec.vmID.
::csi::v1::ControllerUnpublishVolumeRequest controllerUnpublishForVm(
    ::csi::v1::ControllerUnpublishVolumeRequest request, const Json& volume);
// The cached NodeStageVolumeRequest with the real publish context (the cached real
// ControllerPublishVolumeResponse's, and device-path = spec.devicePath) instead of the fake one.
Result<::csi::v1::NodeStageVolumeRequest> nodeStageReplay(const Json& volume);
// The cached NodePublishVolumeRequest, its publish context replaced the same way (upstream
// replays the fake one, which a driver without STAGE_UNSTAGE_VOLUME would use).
Result<::csi::v1::NodePublishVolumeRequest> nodePublishReplay(const Json& volume);
// The cached NodeUnpublish/NodeUnstage requests.
Result<::csi::v1::NodeUnpublishVolumeRequest> nodeUnpublishReplay(const Json& volume);
Result<::csi::v1::NodeUnstageVolumeRequest> nodeUnstageReplay(const Json& volume);

// The CR after ControllerUnpublishVolume: labels {volumeName}, spec emptied but volumeID and
// volumeName (status is reset separately).
Json resetVolume(Json volume);
// The CR as the podvm wrapper claims it at start: spec and labels podName, podNamespace,
// nodeName/podNodeName.
Json claimVolume(Json volume, const std::string& podName, const std::string& podNamespace,
                 const std::string& podNodeName);

// CSI messages as the CR caches them: protobuf JSON with lowerCamelCase names (Go's jsonpb).
std::string toJson(const google::protobuf::Message& message);
Status fromJson(std::string_view json, google::protobuf::Message* message);

}  // namespace pp::csi
