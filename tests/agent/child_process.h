// A real child process for the stand-in agent: fork + exec with stdin/stdout/stderr on pipes,
// optionally in another network namespace and as another user. Like kata-agent, the process can
// be created stopped (before exec) and started later (CreateContainer, then StartContainer).
//
// Everything here runs on one Asio executor (the agent's io thread) and never blocks it: pipes
// are asio stream descriptors and the exit is observed through a pidfd, which becomes readable
// when the process ends.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"

namespace pp::testagent {

class SpawnSpec {
 public:
  std::vector<std::string> args;  // args[0] is looked up in PATH from `env` when it has no '/'
  std::vector<std::string> env;   // the whole environment, "NAME=value"
  std::string cwd;                // "" = the agent's working directory
  std::optional<uint32_t> uid;    // switch user only when set (needs root unless it is ours)
  std::optional<uint32_t> gid;
  std::vector<uint32_t> additionalGids;
  std::string netnsPath;  // "" = the agent's network namespace
  bool startNow = true;   // false: stop before exec until start() is called
};

class ChildProcess : public std::enable_shared_from_this<ChildProcess> {
 public:
  // Forks the child. Errors that can be known before exec (no such program, bad namespace)
  // are returned here; errors of the child itself come from started().
  static Result<std::shared_ptr<ChildProcess>> spawn(asio::any_io_executor ex,
                                                     const SpawnSpec& spec);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  int pid() const { return pid_; }
  // Lets a process created with startNow=false run its program.
  Status start();
  bool startRequested() const { return startRequested_; }
  // Completes once the program was executed (OK) or the child failed before exec (the error).
  asio::awaitable<Status> execResult();

  // Exit status once the process ended: its exit code, or 128 + signal number.
  asio::awaitable<int> wait();
  bool exited() const { return exitStatus_.has_value(); }

  // Up to `max` bytes as soon as some are available; INTERNAL "eof" once the stream has ended
  // (what kata-agent answers, and how the shim learns a stream is finished).
  asio::awaitable<Result<std::string>> readStdout(size_t max);
  asio::awaitable<Result<std::string>> readStderr(size_t max);
  asio::awaitable<Result<size_t>> writeStdin(const std::string& data);
  void closeStdin();

  // Sends a signal; a process that has already exited is not an error.
  Status signal(int sig);

 private:
  explicit ChildProcess(asio::any_io_executor ex);
  static asio::awaitable<void> reap(std::shared_ptr<ChildProcess> self);
  static asio::awaitable<Result<std::string>> readFrom(std::shared_ptr<ChildProcess> self,
                                                       asio::posix::stream_descriptor* pipe,
                                                       size_t max);

  asio::any_io_executor ex_;
  int pid_ = -1;
  asio::posix::stream_descriptor pidfd_;
  asio::posix::stream_descriptor stdin_;
  asio::posix::stream_descriptor stdout_;
  asio::posix::stream_descriptor stderr_;
  asio::posix::stream_descriptor execStatus_;  // EOF = exec succeeded; else {stage, errno}
  int startGate_ = -1;                         // write end; one byte lets the child exec
  bool startRequested_ = false;
  std::optional<Status> execResult_;
  std::optional<int> exitStatus_;
  std::vector<asio::steady_timer*> waiters_;
};

}  // namespace pp::testagent
