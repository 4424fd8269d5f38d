// Writes the files process-user-data may write, and nothing else: exact whitelisted pod VM
// paths, under the configured root, never through a symbolic link, atomically (temporary file
// + rename), mode 0644, parent directories created 0755.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "base/error.h"

namespace pp::userdata {

// Quotes untrusted text for a log line: control and non-ASCII bytes escaped, cut at 200 bytes.
std::string quoteForLog(std::string_view text);

class FileWriter {
 public:
  // `root` is the host directory that stands for the pod VM's "/".
  explicit FileWriter(std::string root) : root_(std::move(root)) {}

  // Whether `vmPath` is exactly one of `allowed`.
  static bool isAllowed(std::string_view vmPath, std::span<const std::string_view> allowed);

  // Writes `content` at root + vmPath. vmPath must be absolute and clean (no "." or ".."
  // components, no doubled slashes); no component below the root may be a symbolic link (the
  // file itself included), and every existing parent must be a directory.
  Status write(std::string_view vmPath, std::string_view content) const;

  // Reads root + vmPath (a regular file, not a link), at most maxBytes.
  Result<std::string> read(std::string_view vmPath, size_t maxBytes) const;

  // Whether root + vmPath exists (without following a final link).
  bool exists(std::string_view vmPath) const;

 private:
  Status checkPath(std::string_view vmPath, bool createParents) const;
  std::string hostPath(std::string_view vmPath) const;

  std::string root_;
};

}  // namespace pp::userdata
