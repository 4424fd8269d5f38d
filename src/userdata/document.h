// The user-data document as process-user-data reads it, without the fetching and the writing:
// the cloud-config parse with provision-files' limits, and the path rule that decides which
// write_files entries are written. provision-files and the fuzz target both call these.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "cloudinit/cloud_config.h"

namespace pp::userdata {

// The write_files of a user-data document (after the base64 a source undoes): at most
// kMaxWriteFiles entries and kMaxUserDataBytes of content, else an error.
Result<std::vector<cloudinit::WriteFile>> parseUserData(std::string_view document);

enum class WritePathVerdict {
  kWrite,                 // one of kWriteFilesWhitelist
  kRefusedInitdataFile,   // /run/peerpod/{aa.toml,cdh.toml,policy.rego}: initdata's only
  kRefusedNotWhitelisted  // anything else
};

// Whether provision-files writes a write_files entry at `vmPath` (exact match only).
WritePathVerdict checkWritePath(std::string_view vmPath);

}  // namespace pp::userdata
