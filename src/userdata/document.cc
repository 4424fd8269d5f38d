// User-data document parsing and the write_files path rule (see document.h).
#include "userdata/document.h"

#include "userdata/file_writer.h"
#include "userdata/userdata.h"

namespace pp::userdata {
namespace {

// Whether `vmPath` is /run/peerpod/<one of kInitdataFiles>.
bool isInitdataFile(std::string_view vmPath) {
  const std::string_view dir = std::string_view(kPeerpodDir);
  if (!vmPath.starts_with(dir) || vmPath.size() <= dir.size() || vmPath[dir.size()] != '/')
    return false;
  return FileWriter::isAllowed(vmPath.substr(dir.size() + 1), kInitdataFiles);
}

}  // namespace

Result<std::vector<cloudinit::WriteFile>> parseUserData(std::string_view document) {
  cloudinit::CloudConfigLimits limits;
  limits.maxFiles = kMaxWriteFiles;
  limits.maxContentBytes = kMaxUserDataBytes;
  return cloudinit::parseCloudConfig(std::string(document), limits);
}

WritePathVerdict checkWritePath(std::string_view vmPath) {
  if (isInitdataFile(vmPath)) return WritePathVerdict::kRefusedInitdataFile;
  if (!FileWriter::isAllowed(vmPath, kWriteFilesWhitelist))
    return WritePathVerdict::kRefusedNotWhitelisted;
  return WritePathVerdict::kWrite;
}

}  // namespace pp::userdata
