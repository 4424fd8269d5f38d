// File helpers: atomic writes (write to a temporary file in the same directory, fsync, rename)
// and bounded reads, so that a crash never leaves a half-written state file behind and a hostile
// file never makes us allocate without limit.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "base/error.h"

namespace pp::files {

Status writeAtomic(const std::string& path, std::string_view content, mode_t mode = 0644);

// Reads a whole file; files larger than maxBytes are refused with OUT_OF_RANGE.
Result<std::string> readFile(const std::string& path, size_t maxBytes = 16u << 20);

Status makeDirs(const std::string& path, mode_t mode = 0755);

// Removes a file or directory tree; a missing path is success.
Status removeAll(const std::string& path);

}  // namespace pp::files
