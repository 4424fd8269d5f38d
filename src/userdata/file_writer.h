// Writes the files process-user-data may write, and nothing else: exact whitelisted pod VM
// paths, under the configured root, never through a symbolic link, atomically (temporary file
// + rename), mode 0644 unless told otherwise, parent directories created 0755.
//
// Every path is walked from the root one component at a time with openat(O_NOFOLLOW) on
// directory file descriptors, and the file is created and renamed inside the directory fd
// found that way: a link swapped in after a check cannot redirect the write.
#pragma once

#include <sys/types.h>

#include <span>
#include <string>
#include <string_view>

#include "base/error.h"

namespace pp::userdata {

// Reads `path` only when it is a regular file: a final symbolic link is not followed, a FIFO or
// device is refused (opened non-blocking, so a FIFO cannot hang us). At most maxBytes, else
// OUT_OF_RANGE; a missing file is NOT_FOUND.
Result<std::string> readRegularFile(const std::string& path, size_t maxBytes);

class FileWriter {
 public:
  // `root` is the host directory that stands for the pod VM's "/".
  explicit FileWriter(std::string root) : root_(std::move(root)) {}

  // Whether `vmPath` is exactly one of `allowed`.
  static bool isAllowed(std::string_view vmPath, std::span<const std::string_view> allowed);

  // Writes `content` at root + vmPath with `mode`. vmPath must be absolute and clean (no "."
  // or ".." components, no doubled slashes); no component below the root may be a symbolic
  // link (the file itself included), and every existing parent must be a directory.
  Status write(std::string_view vmPath, std::string_view content, mode_t mode = 0644) const;

  // Reads root + vmPath (a regular file, not a link, none in its parents), at most maxBytes.
  Result<std::string> read(std::string_view vmPath, size_t maxBytes) const;

  // Removes root + vmPath (not a directory; a link itself, not its target); a missing file is
  // success. The same path rules as write().
  Status remove(std::string_view vmPath) const;

  // Whether root + vmPath exists (without following a final link).
  bool exists(std::string_view vmPath) const;

 private:
  std::string hostPath(std::string_view vmPath) const;

  std::string root_;
};

}  // namespace pp::userdata
