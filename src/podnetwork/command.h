// Internal: runs a program and collects its output. Only the NOTRACK rules need this (see
// iptables.h); everything else talks netlink.
#pragma once

#include <string>
#include <vector>

#include "base/error.h"

namespace pp::podnetwork {

struct CommandResult {
  int exitCode = -1;
  std::string out;
  std::string err;
};

// Spawns argv[0] (an absolute path; no shell, no PATH lookup) with `input` on its stdin. The child
// inherits the calling thread's network namespace. Fails only if the program cannot be run; a
// non-zero exit is reported in exitCode.
Result<CommandResult> runCommand(const std::vector<std::string>& argv, const std::string& input);

}  // namespace pp::podnetwork
