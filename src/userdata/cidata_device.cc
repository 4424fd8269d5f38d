// Finding (libblkid) and reading (mount, read, umount) the cidata device (see cidata_device.h).
#include "userdata/cidata_device.h"

#include <blkid.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <vector>

#include "base/files.h"
#include "base/log.h"
#include "userdata/file_writer.h"

namespace pp::userdata {
namespace {

constexpr char kLog[] = "userdata";
// What NoCloud seeds are made of (cloud-init: "vfat or iso9660"; the libvirt provider attaches
// an ISO). Nothing else is mounted: every other file system driver is more kernel code that a
// disk image chosen by the host would reach.
constexpr std::array<std::string_view, 2> kFsTypes = {"iso9660", "vfat"};

std::string trimRoot(std::string root) {
  while (!root.empty() && root.back() == '/') root.pop_back();
  return root;
}

bool isCidataLabel(std::string_view label) {
  return label == "cidata" || label == "CIDATA";
}

// Probes one device or image file; the device when it carries the cidata label.
std::optional<CidataDevice> probe(const std::string& path) {
  blkid_probe pr = blkid_new_probe_from_filename(path.c_str());
  if (pr == nullptr) return std::nullopt;
  blkid_probe_enable_superblocks(pr, 1);
  blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_LABEL | BLKID_SUBLKS_TYPE);
  std::optional<CidataDevice> out;
  if (blkid_do_safeprobe(pr) == 0) {
    const char* label = nullptr;
    const char* type = nullptr;
    if (blkid_probe_lookup_value(pr, "LABEL", &label, nullptr) == 0 && label != nullptr &&
        isCidataLabel(label) && blkid_probe_lookup_value(pr, "TYPE", &type, nullptr) == 0 &&
        type != nullptr) {
      out = CidataDevice{path, type};
    }
  }
  blkid_free_probe(pr);
  return out;
}

}  // namespace

std::optional<CidataDevice> findCidataDevice(const std::string& rootIn) {
  const std::string root = trimRoot(rootIn);
  for (const char* label : {"cidata", "CIDATA"}) {
    const std::string link = root + "/dev/disk/by-label/" + label;
    struct stat st {};
    if (::stat(link.c_str(), &st) == 0) {
      if (auto dev = probe(link)) return dev;
    }
  }
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(root + "/sys/class/block", ec)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    if (name.starts_with("ram") || name.starts_with("zram")) continue;
    if (auto dev = probe(root + "/dev/" + name)) return dev;
  }
  return std::nullopt;
}

Result<std::string> readUserDataFromDevice(const CidataDevice& device, const std::string& rootIn,
                                           size_t maxBytes) {
  if (std::find(kFsTypes.begin(), kFsTypes.end(), device.fsType) == kFsTypes.end()) {
    return fail(Code::kFailedPrecondition,
                device.path + " holds a " + device.fsType +
                    " file system; a cidata seed must be iso9660 or vfat");
  }
  const std::string root = trimRoot(rootIn);
  if (auto st = files::makeDirs(root + "/run"); !st) return fail(st.error());
  std::string dir = root + "/run/process-user-data.XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) {
    return fail(Code::kInternal,
                "cannot create a mount point under " + root + "/run: " + std::strerror(errno));
  }
  const unsigned long flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (::mount(device.path.c_str(), dir.c_str(), device.fsType.c_str(), flags, nullptr) != 0) {
    const int err = errno;
    ::rmdir(dir.c_str());
    return fail(Code::kUnavailable, "cannot mount " + device.path + " (" + device.fsType +
                                        ") read-only: " + std::strerror(err));
  }
  log::info(kLog, "mounted {} ({}) read-only at {}", device.path, device.fsType, dir);
  // A regular file inside the mount only: no link followed out of it, no FIFO waited on.
  Result<std::string> data = readRegularFile(dir + "/user-data", maxBytes);
  if (!data && data.error().code == Code::kNotFound) {
    data = fail(Code::kNotFound, device.path + " has no user-data file");
  } else if (!data && data.error().code != Code::kOutOfRange) {
    data = fail(data.error().wrap("user-data on " + device.path));
  }
  if (::umount2(dir.c_str(), 0) != 0) {
    log::warn(kLog, "cannot unmount {}: {}; detaching it", dir, std::strerror(errno));
    ::umount2(dir.c_str(), MNT_DETACH);
  }
  ::rmdir(dir.c_str());
  return data;
}

}  // namespace pp::userdata
