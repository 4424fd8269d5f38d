#include "podnetwork/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "base/log.h"

namespace pp::podnetwork {

Result<Netns> Netns::open(const std::string& path) {
  // /proc/thread-self, not /proc/self: namespaces are per thread and another thread of this
  // process may be inside a NetnsScope right now.
  const std::string& file = path.empty() ? std::string("/proc/thread-self/ns/net") : path;
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return fail(err == ENOENT ? Code::kNotFound : Code::kUnavailable,
                fmt::format("opening network namespace {}: {}", file, std::strerror(err)));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return fail(Code::kInternal,
                fmt::format("inspecting network namespace {}: {}", file, std::strerror(err)));
  }
  return Netns(fd, file, st.st_dev, st.st_ino);
}

Netns::Netns(int fd, std::string path, uint64_t dev, uint64_t ino)
    : fd_(fd), path_(std::move(path)), dev_(dev), ino_(ino) {}

Netns::Netns(Netns&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      dev_(other.dev_),
      ino_(other.ino_) {}

Netns& Netns::operator=(Netns&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    dev_ = other.dev_;
    ino_ = other.ino_;
  }
  return *this;
}

Netns::~Netns() {
  if (fd_ >= 0) ::close(fd_);
}

Result<Netns> Netns::duplicate() const {
  int fd = fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) {
    return fail(Code::kResourceExhausted,
                fmt::format("duplicating network namespace {}: {}", path_, std::strerror(errno)));
  }
  return Netns(fd, path_, dev_, ino_);
}

bool Netns::sameAs(const Netns& other) const {
  return dev_ == other.dev_ && ino_ == other.ino_;
}

Result<std::unique_ptr<NetnsScope>> NetnsScope::enter(const Netns& target) {
  auto original = Netns::current();
  if (!original) return fail(original.error().wrap("saving the current network namespace"));
  if (!original->sameAs(target) && setns(target.fd(), CLONE_NEWNET) != 0) {
    return fail(Code::kUnavailable, fmt::format("entering network namespace {}: {}", target.path(),
                                                std::strerror(errno)));
  }
  return std::unique_ptr<NetnsScope>(new NetnsScope(std::move(*original)));
}

NetnsScope::~NetnsScope() {
  if (setns(original_.fd(), CLONE_NEWNET) != 0) {
    // The thread would go on working in the wrong namespace (a pod's instead of the host's):
    // nothing sensible can continue from there.
    log::error("podnetwork", "cannot return to network namespace {}: {}", original_.path(),
               std::strerror(errno));
    std::abort();
  }
}

}  // namespace pp::podnetwork
