// Names the CSI wrappers derive from CSI requests, as upstream's csi-wrapper derives them (so a
// cluster can run our wrappers next to upstream's): the PeerpodVolume name of a volume ID, the
// VM ID label, the node ID a vendor driver expects for a VM, and the pod UID and PV name in a
// kubelet target path.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pp::csi {

// "###" and then "#" become ".", then the last path element: the PeerpodVolume's name.
// "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/disks/d1" -> "d1",
// "projects/p/zones/z/disks/pvc-1" -> "pvc-1", "vol-0abc" -> "vol-0abc".
std::string normalizeVolumeId(std::string_view volumeId);

// The last "/" segment of a VM ID: the value of the vmID label.
std::string normalizeVmId(std::string_view vmId);

// True for an Azure resource ID of a VM or of a scale-set VM (case-insensitive, as Azure's).
bool isAzureVmResourceId(std::string_view vmId);

// The node_id the vendor's ControllerPublishVolume gets for a VM: Azure's disk driver wants the
// VM's name, not its resource ID; every other ID is used as it is.
std::string nodeIdForVm(std::string_view vmId);

struct TargetPathParts {
  std::string podUid;
  std::string volumeName;  // the PV name
};
// Parses ".../pods/<uid>/volumes/kubernetes.io~csi/<pv>/mount" (kubelet's NodePublishVolume
// target path; any kubelet root directory). std::nullopt when the path has another shape.
std::optional<TargetPathParts> parseTargetPath(std::string_view targetPath);

}  // namespace pp::csi
