// The NoCloud seed as a block device: a file system labelled "cidata" (or "CIDATA"), as the
// libvirt provider attaches it (ISO 9660 CD-ROM) and cloud-init's NoCloud reads it. Used when
// nothing mounted it at /media/cidata: process-user-data then mounts it read-only itself,
// reads user-data and unmounts it.
#pragma once

#include <optional>
#include <string>

#include "base/error.h"

namespace pp::userdata {

struct CidataDevice {
  std::string path;    // host path of the device node
  std::string fsType;  // as libblkid names it: iso9660, vfat, ...
};

// Looks for <root>/dev/disk/by-label/{cidata,CIDATA}, else probes every device listed in
// <root>/sys/class/block as <root>/dev/<name> with libblkid. nullopt when there is none.
std::optional<CidataDevice> findCidataDevice(const std::string& root);

// Mounts `device` read-only (nosuid, nodev, noexec) on a new directory under <root>/run,
// reads its user-data file (a regular file, at most maxBytes), unmounts it and removes the
// directory. File systems other than iso9660 and vfat are refused before mounting.
Result<std::string> readUserDataFromDevice(const CidataDevice& device, const std::string& root,
                                           size_t maxBytes);

}  // namespace pp::userdata
