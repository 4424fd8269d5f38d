// Network namespaces: an open handle, and a scope that moves the calling thread into one.
// Both sides of the tunnel use them to talk netlink to the pod's and the host's namespaces.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/error.h"

namespace pp::podnetwork {

// An open network namespace (a file descriptor on /run/netns/<name>, /proc/<pid>/ns/net, ...).
class Netns {
 public:
  // path "" opens the calling thread's current namespace.
  static Result<Netns> open(const std::string& path);
  static Result<Netns> current() { return open(""); }

  Netns(Netns&& other) noexcept;
  Netns& operator=(Netns&& other) noexcept;
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  ~Netns();

  // Another handle on the same namespace (a dup of the descriptor), e.g. for another thread.
  Result<Netns> duplicate() const;

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  bool sameAs(const Netns& other) const;

 private:
  Netns(int fd, std::string path, uint64_t dev, uint64_t ino);
  int fd_ = -1;
  std::string path_;
  uint64_t dev_ = 0;
  uint64_t ino_ = 0;
};

// Switches the calling thread into a namespace until destroyed, then back. Sockets opened in
// between belong to the entered namespace for their whole life, which is how this module talks
// netlink to a namespace. Child processes spawned in between inherit it. Not movable: the scope
// is tied to the thread that created it.
class NetnsScope {
 public:
  static Result<std::unique_ptr<NetnsScope>> enter(const Netns& target);
  ~NetnsScope();
  NetnsScope(const NetnsScope&) = delete;
  NetnsScope& operator=(const NetnsScope&) = delete;

 private:
  explicit NetnsScope(Netns original) : original_(std::move(original)) {}
  Netns original_;
};

}  // namespace pp::podnetwork
