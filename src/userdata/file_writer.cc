// FileWriter: whitelisted, link-free, atomic writes under a root (see file_writer.h).
#include "userdata/file_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include "base/log.h"
#include "base/random.h"

namespace pp::userdata {
namespace {

std::string errnoText(int err) {
  return std::strerror(err);
}

// Closes its descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// Splits "/a/b/c" into {"a","b","c"}; false for relative or unclean paths ("", ".", "..").
bool splitClean(std::string_view path, std::vector<std::string>& parts) {
  if (path.empty() || path.front() != '/') return false;
  size_t i = 1;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    if (part.empty() || part == "." || part == "..") return false;
    if (part.find('\0') != std::string_view::npos) return false;
    parts.emplace_back(part);
    i = j + 1;
  }
  return !parts.empty();
}

Status writeAll(int fd, std::string_view content, const std::string& what) {
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Code::kInternal, "write " + what + ": " + errnoText(errno));
    }
    off += static_cast<size_t>(n);
  }
  return {};
}

// Reads `name` in `dirFd` (AT_FDCWD for a path) when it is a regular file; `what` names it in
// errors. Checked before opening (a device is never opened) and again on the descriptor (the
// entry may have been swapped in between).
Result<std::string> readRegularAt(int dirFd, const char* name, const std::string& what,
                                  size_t maxBytes) {
  struct stat st {};
  if (::fstatat(dirFd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    const int err = errno;
    if (err == ENOENT) return fail(Code::kNotFound, what + " does not exist");
    return fail(Code::kInternal, "cannot inspect " + what + ": " + errnoText(err));
  }
  if (S_ISLNK(st.st_mode))
    return fail(Code::kPermissionDenied, what + " is a symbolic link; refusing to read it");
  if (!S_ISREG(st.st_mode)) return fail(Code::kFailedPrecondition, what + " is not a regular file");
  Fd fd(::openat(dirFd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ELOOP)
      return fail(Code::kPermissionDenied, what + " is a symbolic link; refusing to read it");
    return fail(Code::kInternal, "cannot open " + what + ": " + errnoText(err));
  }
  if (::fstat(fd.get(), &st) != 0)
    return fail(Code::kInternal, "cannot inspect " + what + ": " + errnoText(errno));
  if (!S_ISREG(st.st_mode)) return fail(Code::kFailedPrecondition, what + " is not a regular file");
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Code::kInternal, "read " + what + ": " + errnoText(errno));
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > maxBytes) {
      return fail(Code::kOutOfRange,
                  what + " is larger than " + std::to_string(maxBytes) + " bytes");
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// The directory that holds the last of `parts`, opened by walking down from `root` one
// component at a time without following links; missing directories are created (0755) when
// `create`. `at` is set to the host path of that directory, for messages.
Result<Fd> openParent(const std::string& root, const std::vector<std::string>& parts, bool create,
                      std::string_view vmPath, std::string& at) {
  at = root;
  while (!at.empty() && at.back() == '/') at.pop_back();
  Fd dir(::open(root.empty() ? "/" : root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0)
    return fail(Code::kInternal, "cannot open the root " + root + ": " + errnoText(errno));
  constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    const char* name = parts[i].c_str();
    at += '/';
    at += parts[i];
    Fd next(::openat(dir.get(), name, kDirFlags));
    if (next.get() < 0 && errno == ENOENT) {
      if (!create) return fail(Code::kNotFound, at + " does not exist");
      if (::mkdirat(dir.get(), name, 0755) != 0 && errno != EEXIST) {
        return fail(Code::kInternal, "cannot create directory " + at + ": " + errnoText(errno));
      }
      next = Fd(::openat(dir.get(), name, kDirFlags));
    }
    if (next.get() < 0) {
      const int err = errno;
      struct stat st {};
      if (::fstatat(dir.get(), name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISLNK(st.st_mode)) {
          return fail(Code::kPermissionDenied, at + " is a symbolic link; refusing to write " +
                                                   std::string(vmPath) + " through it");
        }
        if (!S_ISDIR(st.st_mode))
          return fail(Code::kFailedPrecondition, at + " is not a directory");
      }
      return fail(Code::kInternal, "cannot open directory " + at + ": " + errnoText(err));
    }
    dir = std::move(next);
  }
  at += '/';
  at += parts.back();
  return dir;
}

Result<std::vector<std::string>> cleanParts(std::string_view vmPath) {
  std::vector<std::string> parts;
  if (!splitClean(vmPath, parts)) {
    return fail(Code::kInvalidArgument,
                "path " + log::quote(vmPath) + " is not a clean absolute path");
  }
  return parts;
}

}  // namespace

Result<std::string> readRegularFile(const std::string& path, size_t maxBytes) {
  return readRegularAt(AT_FDCWD, path.c_str(), path, maxBytes);
}

bool FileWriter::isAllowed(std::string_view vmPath, std::span<const std::string_view> allowed) {
  return std::find(allowed.begin(), allowed.end(), vmPath) != allowed.end();
}

std::string FileWriter::hostPath(std::string_view vmPath) const {
  std::string out = root_;
  while (!out.empty() && out.back() == '/') out.pop_back();
  out += vmPath;
  return out;
}

Status FileWriter::write(std::string_view vmPath, std::string_view content, mode_t mode) const {
  auto parts = cleanParts(vmPath);
  if (!parts) return fail(parts.error());
  std::string at;
  auto dir = openParent(root_, *parts, true, vmPath, at);
  if (!dir) return fail(dir.error());
  const std::string& name = parts->back();
  struct stat st {};
  if (::fstatat(dir->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISLNK(st.st_mode)) {
      return fail(Code::kPermissionDenied, at + " is a symbolic link; refusing to write " +
                                               std::string(vmPath) + " through it");
    }
    if (!S_ISREG(st.st_mode))
      return fail(Code::kFailedPrecondition, at + " exists and is not a regular file");
  } else if (errno != ENOENT) {
    return fail(Code::kInternal, "cannot inspect " + at + ": " + errnoText(errno));
  }

  // The temporary file is created 0600 (O_EXCL, no link followed) and gets its mode only once
  // it is complete; renameat replaces whatever entry `name` is by then, never a link's target.
  std::string tmp;
  Fd file;
  for (int attempt = 0; attempt < 8 && file.get() < 0; ++attempt) {
    tmp = "." + name + ".tmp" + std::to_string(rnd::u64());
    file = Fd(::openat(dir->get(), tmp.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (file.get() < 0 && errno != EEXIST) break;
  }
  if (file.get() < 0)
    return fail(Code::kInternal,
                "cannot create a temporary file for " + at + ": " + errnoText(errno));
  const std::string tmpPath = at.substr(0, at.size() - name.size()) + tmp;
  Status st2 = writeAll(file.get(), content, tmpPath);
  if (st2 && ::fchmod(file.get(), mode) != 0)
    st2 = fail(Code::kInternal, "chmod " + tmpPath + ": " + errnoText(errno));
  if (st2 && ::fsync(file.get()) != 0)
    st2 = fail(Code::kInternal, "fsync " + tmpPath + ": " + errnoText(errno));
  file.reset();
  if (st2 && ::renameat(dir->get(), tmp.c_str(), dir->get(), name.c_str()) != 0) {
    st2 = fail(Code::kInternal, "rename " + tmpPath + " to " + at + ": " + errnoText(errno));
  }
  if (!st2) {
    ::unlinkat(dir->get(), tmp.c_str(), 0);
    return st2;
  }
  ::fsync(dir->get());  // the rename itself durable
  return {};
}

Result<std::string> FileWriter::read(std::string_view vmPath, size_t maxBytes) const {
  auto parts = cleanParts(vmPath);
  if (!parts) return fail(parts.error());
  std::string at;
  auto dir = openParent(root_, *parts, false, vmPath, at);
  if (!dir) return fail(dir.error());
  return readRegularAt(dir->get(), parts->back().c_str(), at, maxBytes);
}

Status FileWriter::remove(std::string_view vmPath) const {
  auto parts = cleanParts(vmPath);
  if (!parts) return fail(parts.error());
  std::string at;
  auto dir = openParent(root_, *parts, false, vmPath, at);
  if (!dir) return dir.error().code == Code::kNotFound ? Status{} : fail(dir.error());
  if (::unlinkat(dir->get(), parts->back().c_str(), 0) != 0 && errno != ENOENT) {
    return fail(Code::kInternal, "cannot remove " + at + ": " + errnoText(errno));
  }
  return {};
}

bool FileWriter::exists(std::string_view vmPath) const {
  struct stat st {};
  return ::lstat(hostPath(vmPath).c_str(), &st) == 0;
}

}  // namespace pp::userdata
