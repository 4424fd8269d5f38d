// Creating a named network namespace the way `ip netns add` does: a bind mount of a thread's
// namespace onto a file under a shared-propagation directory, so that it outlives the thread
// and is visible to other mount namespaces (kata-agent's among them).
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

#include "base/files.h"
#include "base/log.h"
#include "forwarder/forwarder.h"

namespace pp::forwarder {
namespace {

std::string errnoText(int err) {
  return std::strerror(err);
}

// The directory must be a mount point with shared propagation; `ip` does the same.
Status makeSharedMountDir(const std::string& dir) {
  if (auto st = files::makeDirs(dir, 0755); !st) return st;
  if (::mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) == 0) return {};
  if (errno != EINVAL) return fail(Code::kInternal, "make " + dir + " shared: " + errnoText(errno));
  // Not a mount point yet: bind it onto itself first.
  if (::mount(dir.c_str(), dir.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0) {
    return fail(Code::kInternal, "bind mount " + dir + ": " + errnoText(errno));
  }
  if (::mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) {
    return fail(Code::kInternal, "make " + dir + " shared: " + errnoText(errno));
  }
  return {};
}

Status bringLoopbackUp() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(Code::kInternal, "socket: " + errnoText(errno));
  ifreq req{};
  std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  int rc = ::ioctl(fd, SIOCGIFFLAGS, &req);
  if (rc == 0) {
    req.ifr_flags = static_cast<short>(req.ifr_flags | IFF_UP);
    rc = ::ioctl(fd, SIOCSIFFLAGS, &req);
  }
  int err = errno;
  ::close(fd);
  if (rc != 0) return fail(Code::kInternal, "set lo up: " + errnoText(err));
  return {};
}

// Runs in a thread of its own: unshare() moves only the calling thread into the new namespace.
Status createIn(const std::string& path) {
  if (::unshare(CLONE_NEWNET) != 0)
    return fail(Code::kInternal, "unshare(CLONE_NEWNET): " + errnoText(errno));
  if (::mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0) {
    return fail(Code::kInternal, "bind mount the namespace on " + path + ": " + errnoText(errno));
  }
  return bringLoopbackUp();
}

}  // namespace

Status ensureNetns(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return {};
  if (errno != ENOENT)
    return fail(Code::kInternal, "pod namespace " + path + ": " + errnoText(errno));
  auto dir = std::filesystem::path(path).parent_path().string();
  if (auto s = makeSharedMountDir(dir); !s)
    return fail(s.error().wrap("creating pod namespace " + path));
  int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0)
    return fail(Code::kInternal, "creating pod namespace " + path + ": " + errnoText(errno));
  ::close(fd);
  Status result;
  std::thread worker([&] { result = createIn(path); });
  worker.join();
  if (!result) {
    ::umount2(path.c_str(), MNT_DETACH);
    ::unlink(path.c_str());
    return fail(result.error().wrap("creating pod namespace " + path));
  }
  log::info("forwarder", "created pod network namespace {}", path);
  return {};
}

}  // namespace pp::forwarder
