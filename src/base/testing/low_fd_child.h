// For the accept-loop tests "out of file descriptors": the server runs in a forked child whose
// descriptor limit leaves only a few free, so that the test process keeps its own limit. The
// child's stderr (the log) goes to a file the parent reads afterwards; a pipe each way carries
// the port up and a "go on" byte down. Header-only, for tests.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>

// PP_TESTING_ASAN: built with AddressSanitizer, by GCC (__SANITIZE_ADDRESS__) or clang
// (__has_feature), where running out of descriptors is not meaningful: the sanitizers' own checks
// (UBSan's vptr check probes memory through a pipe) need free descriptors, and out of them they
// report errors that are not there.
#if defined(__SANITIZE_ADDRESS__)
#define PP_TESTING_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PP_TESTING_ASAN 1
#endif
#endif

namespace pp::testing {

class LowFdChild {
 public:
  // In the child, with stderr already sent to the log; returns its exit code (0 = good).
  using Body = std::function<int(LowFdChild& child)>;

  // Forks and runs `body` in the child. valid() is false when fork or a pipe failed.
  LowFdChild(std::string_view name, Body body)
      : logPath_(std::filesystem::temp_directory_path() /
                 (std::string(name) + "-" + std::to_string(::getpid()) + ".log")) {
    if (::pipe(up_) != 0 || ::pipe(down_) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(up_[0]);
      ::close(down_[1]);
      int logFd = ::open(logPath_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (logFd < 0 || ::dup2(logFd, 2) < 0) ::_exit(10);
      ::_exit(body(*this));
    }
    ::close(up_[1]);
    ::close(down_[0]);
  }
  ~LowFdChild() {
    if (pid_ > 0 && !waited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(up_[0]);
    ::close(down_[1]);
    std::filesystem::remove(logPath_);
  }
  LowFdChild(const LowFdChild&) = delete;
  LowFdChild& operator=(const LowFdChild&) = delete;

  bool valid() const { return pid_ > 0; }

  // --- in the child ---
  // Lowers the descriptor limit so that only `free` more descriptors can be opened.
  static bool leaveFreeDescriptors(int free) {
    int limit = 8;
    while (limit - openBelow(limit) < free) ++limit;
    rlimit lim{};
    lim.rlim_cur = lim.rlim_max = static_cast<rlim_t>(limit);
    return ::setrlimit(RLIMIT_NOFILE, &lim) == 0;
  }
  bool sendPort(uint16_t port) { return ::write(up_[1], &port, sizeof port) == sizeof port; }
  bool awaitParent() {
    char go = 0;
    return ::read(down_[0], &go, 1) == 1;
  }

  // --- in the parent ---
  // The port the child sent; 0 when it exited first.
  uint16_t port() {
    uint16_t port = 0;
    return ::read(up_[0], &port, sizeof port) == sizeof port ? port : 0;
  }
  bool tellChild() { return ::write(down_[1], "g", 1) == 1; }
  // The child's exit code, or -1 when it did not exit normally.
  int wait() {
    int status = 0;
    if (::waitpid(pid_, &status, 0) != pid_) return -1;
    waited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  // The log's lines that contain `needle`, and the first 4000 characters of it for messages.
  int logLinesWith(std::string_view needle, std::string* excerpt) const {
    std::ifstream log(logPath_);
    std::string line;
    int n = 0;
    while (std::getline(log, line)) {
      if (line.find(needle) != std::string::npos) ++n;
      if (excerpt->size() < 4000) *excerpt += line + "\n";
    }
    return n;
  }

 private:
  // Descriptors below `limit` in use (the limit caps the number of a new descriptor).
  static int openBelow(int limit) {
    int n = 0;
    DIR* d = ::opendir("/proc/self/fd");
    if (!d) return 0;
    while (dirent* e = ::readdir(d)) {
      int fd = std::atoi(e->d_name);
      if (e->d_name[0] != '.' && fd < limit && fd != ::dirfd(d)) ++n;
    }
    ::closedir(d);
    return n;
  }

  std::string logPath_;
  int up_[2] = {-1, -1};
  int down_[2] = {-1, -1};
  pid_t pid_ = -1;
  bool waited_ = false;
};

}  // namespace pp::testing
