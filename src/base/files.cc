#include "base/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>  // renameat2
#include <cstring>
#include <filesystem>

#include "base/random.h"

namespace pp::files {
namespace {

std::string errnoText(int err) {
  return std::strerror(err);
}

Status writeAll(int fd, std::string_view content, const std::string& path) {
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Code::kInternal, "write " + path + ": " + errnoText(errno));
    }
    off += static_cast<size_t>(n);
  }
  return {};
}

// Writes `content` to the open file `fd` (named `path` in errors), sets its mode and, when
// `sync`, flushes it to disk. Does not close it.
Status fillFile(int fd, std::string_view content, mode_t mode, bool sync, const std::string& path) {
  auto st = writeAll(fd, content, path);
  if (st && ::fchmod(fd, mode) != 0)
    st = fail(Code::kInternal, "chmod " + path + ": " + errnoText(errno));
  if (st && sync && ::fsync(fd) != 0)
    st = fail(Code::kInternal, "fsync " + path + ": " + errnoText(errno));
  return st;
}

// Makes a rename in `dir` durable.
void syncDirectory(const std::filesystem::path& dir) {
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace

Status writeAtomic(const std::string& path, std::string_view content, mode_t mode,
                   Durability durability) {
  const bool durable = durability == Durability::kDurable;
  auto dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::string tmp = (dir / ("." + std::filesystem::path(path).filename().string() + ".tmp" +
                            std::to_string(rnd::u64())))
                        .string();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return fail(Code::kInternal, "create " + tmp + ": " + errnoText(errno));
  auto st = fillFile(fd, content, mode, durable, tmp);
  ::close(fd);
  if (st && ::rename(tmp.c_str(), path.c_str()) != 0) {
    st = fail(Code::kInternal, "rename " + tmp + " to " + path + ": " + errnoText(errno));
  }
  if (!st) {
    ::unlink(tmp.c_str());
    return st;
  }
  if (durable) syncDirectory(dir);
  return {};
}

Status rewriteDurably(const std::string& path, std::string_view content, mode_t mode) {
  const std::filesystem::path target(path);
  auto dir = target.parent_path();
  if (dir.empty()) dir = ".";
  const std::string scratch = (dir / ("." + target.filename().string() + ".next")).string();
  int fd = ::open(scratch.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return fail(Code::kInternal, "open " + scratch + ": " + errnoText(errno));
  auto st = fillFile(fd, content, mode, /*sync=*/true, scratch);
  ::close(fd);
  if (!st) return st;  // `path` is untouched; the scratch file is rewritten next time
  int r = ::renameat2(AT_FDCWD, scratch.c_str(), AT_FDCWD, path.c_str(), RENAME_EXCHANGE);
  if (r != 0 && (errno == ENOENT || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
    // The first write (no `path` yet), or a file system that cannot exchange names.
    r = ::rename(scratch.c_str(), path.c_str());
  }
  if (r != 0) return fail(Code::kInternal, "replace " + path + ": " + errnoText(errno));
  syncDirectory(dir);
  return {};
}

Result<std::string> readFile(const std::string& path, size_t maxBytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return fail(err == ENOENT ? Code::kNotFound : Code::kInternal,
                "open " + path + ": " + errnoText(err));
  }
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return fail(Code::kInternal, "read " + path + ": " + errnoText(err));
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > maxBytes) {
      ::close(fd);
      return fail(Code::kOutOfRange,
                  path + " is larger than " + std::to_string(maxBytes) + " bytes");
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Status makeDirs(const std::string& path, mode_t mode) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return fail(Code::kInternal, "create directory " + path + ": " + ec.message());
  ::chmod(path.c_str(), mode);
  return {};
}

Status removeAll(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return fail(Code::kInternal, "remove " + path + ": " + ec.message());
  return {};
}

}  // namespace pp::files
