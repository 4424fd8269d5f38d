// Cloud-config user data for pod VMs: a "#cloud-config" YAML document whose write_files
// process-user-data (or cloud-init) turns into files under /run/peerpod.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "base/error.h"

namespace pp::cloudinit {

struct WriteFile {
  std::string path;
  std::string content;
};

// Renders "#cloud-config\nwrite_files:\n- path: ...\n  content: ...". Contents are emitted by a
// YAML emitter, so any UTF-8 text round-trips (newlines, quotes, colons, control characters:
// text with control characters is written double-quoted and escaped). YAML cannot carry
// bytes that are not UTF-8.
std::string renderCloudConfig(const std::vector<WriteFile>& files);

// Bounds for parsing untrusted user data. YAML aliases let a small document name one large
// string many times, so the limits apply to the expanded document.
struct CloudConfigLimits {
  size_t maxFiles = 1024;                     // write_files entries
  size_t maxContentBytes = size_t{64} << 20;  // sum of all contents
};

// Parses the strict subset we produce and process-user-data accepts: a mapping with only
// `write_files`, each entry with only `path` and `content` (strings; a null content is empty).
// Duplicate keys are refused.
Result<std::vector<WriteFile>> parseCloudConfig(const std::string& text,
                                                const CloudConfigLimits& limits = {});

}  // namespace pp::cloudinit
