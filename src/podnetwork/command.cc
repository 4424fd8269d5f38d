#include "podnetwork/command.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

extern char** environ;

namespace pp::podnetwork {
namespace {

class Pipe {
 public:
  Pipe() {
    if (pipe2(fds_.data(), O_CLOEXEC) != 0) fds_ = {-1, -1};
  }
  ~Pipe() {
    closeRead();
    closeWrite();
  }
  bool ok() const { return fds_[0] >= 0; }
  int read() const { return fds_[0]; }
  int write() const { return fds_[1]; }
  void closeRead() { closeFd(0); }
  void closeWrite() { closeFd(1); }

 private:
  void closeFd(int i) {
    if (fds_[i] >= 0) ::close(fds_[i]);
    fds_[i] = -1;
  }
  std::array<int, 2> fds_{-1, -1};
};

}  // namespace

Result<CommandResult> runCommand(const std::vector<std::string>& argv, const std::string& input) {
  if (argv.empty()) return fail(Code::kInvalidArgument, "runCommand: empty argv");
  // stdin comes from a memory file rather than a pipe: writing to a pipe whose reader has already
  // exited would raise SIGPIPE in this process.
  int inFd = memfd_create("pp-command-input", MFD_CLOEXEC);
  if (inFd < 0) {
    return fail(Code::kResourceExhausted,
                fmt::format("input for {}: {}", argv[0], strerror(errno)));
  }
  size_t written = 0;
  while (written < input.size()) {
    ssize_t n = ::write(inFd, input.data() + written, input.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(inFd);
      return fail(Code::kResourceExhausted,
                  fmt::format("input for {}: {}", argv[0], strerror(errno)));
    }
    written += static_cast<size_t>(n);
  }
  lseek(inFd, 0, SEEK_SET);
  Pipe out, err;
  if (!out.ok() || !err.ok()) {
    ::close(inFd);
    return fail(Code::kResourceExhausted, fmt::format("pipe for {}: {}", argv[0], strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, inFd, 0);
  posix_spawn_file_actions_adddup2(&actions, out.write(), 1);
  posix_spawn_file_actions_adddup2(&actions, err.write(), 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(inFd);
  if (rc != 0) {
    return fail(Code::kUnavailable, fmt::format("running {}: {}", argv[0], strerror(rc)));
  }
  out.closeWrite();
  err.closeWrite();

  CommandResult result;
  std::array<pollfd, 2> fds{pollfd{out.read(), POLLIN, 0}, pollfd{err.read(), POLLIN, 0}};
  std::array<std::string*, 2> sinks{&result.out, &result.err};
  int open = 2;
  char buffer[4096];
  while (open > 0) {
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = ::read(fds[i].fd, buffer, sizeof(buffer));
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open;
      }
    }
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace pp::podnetwork
