// File helpers: atomic writes (write to a temporary file in the same directory, fsync, rename)
// and bounded reads, so that a crash never leaves a half-written state file behind and a hostile
// file never makes us allocate without limit.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "base/error.h"

namespace pp::files {

// kDurable: the content and the rename are on disk when writeAtomic returns (fsync of the file,
// then of its directory). kReplaceOnly: readers still see the old content or the new, never a
// mix, but a crash may lose the write; for copies nothing reads back (two fsyncs saved).
enum class Durability { kDurable, kReplaceOnly };

Status writeAtomic(const std::string& path, std::string_view content, mode_t mode = 0644,
                   Durability durability = Durability::kDurable);

// writeAtomic (kDurable) for a file that one writer at a time rewrites again and again (a
// sandbox's state.json, at each phase). The new content goes into the scratch file
// <dir>/.<name>.next, whose name is then swapped with `path` (renameat2 RENAME_EXCHANGE): the
// previous version's inode becomes the next write's scratch, so a rewrite neither allocates nor
// frees an inode. On ext4, allocating one beside many recently deleted ones was half the
// adaptor's CPU for a state save (bench/sandboxes). Where names cannot be exchanged it renames,
// as writeAtomic does. The scratch file holds the previous content, with the same mode.
Status rewriteDurably(const std::string& path, std::string_view content, mode_t mode = 0644);

// Reads a whole file; files larger than maxBytes are refused with OUT_OF_RANGE.
Result<std::string> readFile(const std::string& path, size_t maxBytes = 16u << 20);

Status makeDirs(const std::string& path, mode_t mode = 0755);

// Removes a file or directory tree; a missing path is success.
Status removeAll(const std::string& path);

}  // namespace pp::files
