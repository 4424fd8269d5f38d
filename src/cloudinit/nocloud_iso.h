// A NoCloud seed image: an ISO 9660 file system (Rock Ridge + Joliet) labelled "cidata" with
// the files user-data and meta-data, built in memory with libisofs. The pod VM's init (or
// cloud-init) finds it by its label.
#pragma once

#include <string>

#include "base/error.h"

namespace pp::cloudinit {

Result<std::string> buildNoCloudIso(const std::string& userData, const std::string& metaData);

}  // namespace pp::cloudinit
