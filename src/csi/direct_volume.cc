#include "csi/direct_volume.h"

#include <filesystem>

#include "base/encoding.h"
#include "base/files.h"

namespace pp::csi {

std::string DirectVolumes::dirOf(const std::string& volumePath) const {
  return root_ + "/" + encoding::base64UrlEncode(volumePath);
}

Status DirectVolumes::add(const std::string& volumePath, const std::string& mountInfo) const {
  std::error_code ec;
  std::string dir = dirOf(volumePath);
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(Code::kInternal, "creating " + dir + ": " + ec.message());
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  if (auto w = files::writeAtomic(dir + "/mountInfo.json", mountInfo, 0600); !w) {
    return fail(w.error());
  }
  return {};
}

Status DirectVolumes::remove(const std::string& volumePath) const {
  std::error_code ec;
  std::filesystem::remove_all(dirOf(volumePath), ec);
  if (ec) return fail(Code::kInternal, "removing " + dirOf(volumePath) + ": " + ec.message());
  return {};
}

}  // namespace pp::csi
