// Kata direct-volume entries: <root>/<base64url(volume path)>/mountInfo.json. An entry tells the
// Kata shim not to share the mount source into the VM (kata's direct block device assignment),
// and tells the adaptor (container_edit.cc) that the path is a peer-pod volume, which it lists
// in the io.confidentialcontainers.org.peerpodvolumes.target_path annotation.
#pragma once

#include <string>

#include "base/error.h"

namespace pp::csi {

inline constexpr char kDirectVolumesDir[] = "/run/kata-containers/shared/direct-volumes";
// What upstream's node wrapper writes: a placeholder device, never mounted on the worker.
inline constexpr char kDefaultMountInfo[] = "{\"Device\": \"/dev/zero\", \"fstype\": \"ext4\"}";

class DirectVolumes {
 public:
  explicit DirectVolumes(std::string root = kDirectVolumesDir) : root_(std::move(root)) {}
  std::string dirOf(const std::string& volumePath) const;
  Status add(const std::string& volumePath, const std::string& mountInfo = kDefaultMountInfo) const;
  Status remove(const std::string& volumePath) const;

 private:
  std::string root_;
};

}  // namespace pp::csi
