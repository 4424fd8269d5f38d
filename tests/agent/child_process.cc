#include "child_process.h"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/read.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <cerrno>
#include <cstring>

#include "base/log.h"

namespace pp::testagent {
namespace {

constexpr auto kUse = asio::experimental::as_tuple(asio::use_awaitable);
constexpr char kDefaultPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// What the child was doing when it failed; sent to the parent with errno.
enum Stage : int { kSetns = 1, kStdio, kChdir, kSetgroups, kSetgid, kSetuid, kGate, kExec };

const char* stageName(int stage) {
  switch (stage) {
    case kSetns:
      return "enter the network namespace";
    case kStdio:
      return "set up stdio";
    case kChdir:
      return "change to the working directory";
    case kSetgroups:
      return "set supplementary groups";
    case kSetgid:
      return "set the group id";
    case kSetuid:
      return "set the user id";
    case kGate:
      return "wait for StartContainer";
    case kExec:
      return "execute the program";
  }
  return "start";
}

// An owned descriptor, so that every early return closes what was opened.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    reset();
    fd_ = std::exchange(o.fd_, -1);
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

Status makePipe(Fd& readEnd, Fd& writeEnd) {
  int fds[2];
  // CLOEXEC: other children must not inherit our ends (a stray write end keeps `cat` from
  // ever seeing EOF on its stdin).
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return fail(Code::kInternal, std::string("pipe: ") + std::strerror(errno));
  readEnd = Fd(fds[0]);
  writeEnd = Fd(fds[1]);
  return {};
}

std::string envValue(const std::vector<std::string>& env, std::string_view name) {
  for (const auto& e : env) {
    if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=') {
      return e.substr(name.size() + 1);
    }
  }
  return {};
}

// execvpe would search the agent's PATH; a container's program is found through its own.
Result<std::string> findProgram(const std::string& name, const std::vector<std::string>& env) {
  if (name.empty()) return fail(Code::kInvalidArgument, "process has no args");
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) != 0) {
      return fail(Code::kNotFound, "executable " + name + ": " + std::strerror(errno));
    }
    return name;
  }
  std::string path = envValue(env, "PATH");
  if (path.empty()) path = kDefaultPath;
  size_t begin = 0;
  while (begin <= path.size()) {
    size_t end = path.find(':', begin);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(begin, end - begin);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    begin = end + 1;
  }
  return fail(Code::kNotFound, "executable \"" + name + "\" not found in $PATH " + path);
}

// Between fork and exec only async-signal-safe calls are allowed: report and leave.
[[noreturn]] void childFail(int statusFd, int stage) {
  int msg[2] = {stage, errno};
  ssize_t ignored = ::write(statusFd, msg, sizeof msg);
  (void)ignored;
  ::_exit(127);
}

}  // namespace

ChildProcess::ChildProcess(asio::any_io_executor ex)
    : ex_(ex), pidfd_(ex), stdin_(ex), stdout_(ex), stderr_(ex), execStatus_(ex) {}

ChildProcess::~ChildProcess() {
  if (startGate_ >= 0) ::close(startGate_);
}

Result<std::shared_ptr<ChildProcess>> ChildProcess::spawn(asio::any_io_executor ex,
                                                          const SpawnSpec& spec) {
  auto program = findProgram(spec.args.empty() ? std::string() : spec.args[0], spec.env);
  if (!program) return fail(program.error());
  Fd netns;
  if (!spec.netnsPath.empty()) {
    netns = Fd(::open(spec.netnsPath.c_str(), O_RDONLY | O_CLOEXEC));
    if (netns.get() < 0) {
      return fail(Code::kInvalidArgument,
                  "network namespace " + spec.netnsPath + ": " + std::strerror(errno));
    }
  }
  Fd inR, inW, outR, outW, errR, errW, statusR, statusW, gateR, gateW;
  std::pair<Fd*, Fd*> pipes[] = {
      {&inR, &inW}, {&outR, &outW}, {&errR, &errW}, {&statusR, &statusW}, {&gateR, &gateW}};
  for (auto [r, w] : pipes) {
    if (auto st = makePipe(*r, *w); !st) return fail(st.error());
  }
  // Everything the child needs is prepared before fork: it may not allocate afterwards.
  std::vector<char*> argv;
  for (const auto& a : spec.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  std::vector<gid_t> groups(spec.additionalGids.begin(), spec.additionalGids.end());
  const bool changeUser = spec.uid || spec.gid;
  const bool waitGate = !spec.startNow;

  pid_t pid = ::fork();
  if (pid < 0) return fail(Code::kInternal, std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    int status = statusW.get();
    // The agent may block or ignore signals (SIGPIPE, SIGTERM for sigwait); a container
    // starts with the defaults.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    if (netns.get() >= 0 && ::setns(netns.get(), CLONE_NEWNET) != 0) childFail(status, kSetns);
    if (::dup2(inR.get(), 0) < 0 || ::dup2(outW.get(), 1) < 0 || ::dup2(errW.get(), 2) < 0) {
      childFail(status, kStdio);
    }
    if (!spec.cwd.empty() && ::chdir(spec.cwd.c_str()) != 0) childFail(status, kChdir);
    if (changeUser) {
      if (::geteuid() == 0 && ::setgroups(groups.size(), groups.data()) != 0)
        childFail(status, kSetgroups);
      if (spec.gid && ::setgid(*spec.gid) != 0) childFail(status, kSetgid);
      if (spec.uid && ::setuid(*spec.uid) != 0) childFail(status, kSetuid);
    }
    if (waitGate) {
      char go = 0;
      ssize_t n;
      do {
        n = ::read(gateR.get(), &go, 1);
      } while (n < 0 && errno == EINTR);
      if (n != 1) {
        errno = ECANCELED;
        childFail(status, kGate);
      }
    }
    ::execve(program->c_str(), argv.data(), envp.data());
    childFail(status, kExec);
  }

  std::shared_ptr<ChildProcess> p(new ChildProcess(ex));
  p->pid_ = pid;
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    // Not expected on any kernel we run on (5.3+); without it the exit cannot be observed.
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return fail(Code::kInternal, std::string("pidfd_open: ") + std::strerror(errno));
  }
  p->pidfd_.assign(pidfd);
  p->stdin_.assign(inW.release());
  p->stdout_.assign(outR.release());
  p->stderr_.assign(errR.release());
  p->execStatus_.assign(statusR.release());
  if (waitGate) {
    p->startGate_ = gateW.release();
  } else {
    p->startRequested_ = true;
  }
  asio::co_spawn(ex, reap(p), asio::detached);
  return p;
}

Status ChildProcess::start() {
  if (startRequested_)
    return fail(Code::kFailedPrecondition,
                "process " + std::to_string(pid_) + " was already started");
  startRequested_ = true;
  char go = 1;
  // A failed write means the child ended during set-up; execResult() tells why.
  ssize_t ignored = ::write(startGate_, &go, 1);
  (void)ignored;
  ::close(startGate_);
  startGate_ = -1;
  return {};
}

asio::awaitable<Status> ChildProcess::execResult() {
  auto self = shared_from_this();
  if (execResult_) co_return *execResult_;
  int msg[2] = {0, 0};
  auto [ec, n] = co_await asio::async_read(execStatus_, asio::buffer(msg, sizeof msg), kUse);
  if (execResult_) co_return *execResult_;  // another caller finished first
  if (n == sizeof msg) {
    execResult_ = fail(Code::kInternal,
                       std::string("cannot ") + stageName(msg[0]) + ": " + std::strerror(msg[1]));
  } else {
    execResult_ = Status{};  // the close-on-exec pipe closed without a message: exec succeeded
  }
  co_return *execResult_;
}

asio::awaitable<void> ChildProcess::reap(std::shared_ptr<ChildProcess> self) {
  while (true) {
    auto [ec] = co_await self->pidfd_.async_wait(asio::posix::stream_descriptor::wait_read, kUse);
    if (ec == asio::error::operation_aborted) co_return;
    int status = 0;
    pid_t r = ::waitpid(self->pid_, &status, WNOHANG);
    if (r == 0) continue;
    if (r < 0) {
      log::warn("test-agent", "waitpid {}: {}", self->pid_, std::strerror(errno));
      status = 0;
    }
    self->exitStatus_ = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    break;
  }
  for (auto* w : self->waiters_) w->cancel();
}

asio::awaitable<int> ChildProcess::wait() {
  auto self = shared_from_this();
  while (!exitStatus_) {
    asio::steady_timer t(ex_, asio::steady_timer::time_point::max());
    waiters_.push_back(&t);
    co_await t.async_wait(kUse);
    std::erase(waiters_, &t);
  }
  co_return *exitStatus_;
}

asio::awaitable<Result<std::string>> ChildProcess::readFrom(std::shared_ptr<ChildProcess> self,
                                                            asio::posix::stream_descriptor* pipe,
                                                            size_t max) {
  (void)self;  // held so that the pipe outlives the read
  if (!pipe->is_open()) co_return fail(Code::kInternal, "eof");
  std::string buf(std::min<size_t>(max == 0 ? 1 : max, 1u << 20), '\0');
  auto [ec, n] = co_await pipe->async_read_some(asio::buffer(buf), kUse);
  if (ec == asio::error::eof) co_return fail(Code::kInternal, "eof");
  if (ec) co_return fail(Code::kInternal, "read: " + ec.message());
  buf.resize(n);
  co_return buf;
}

asio::awaitable<Result<std::string>> ChildProcess::readStdout(size_t max) {
  return readFrom(shared_from_this(), &stdout_, max);
}

asio::awaitable<Result<std::string>> ChildProcess::readStderr(size_t max) {
  return readFrom(shared_from_this(), &stderr_, max);
}

asio::awaitable<Result<size_t>> ChildProcess::writeStdin(const std::string& data) {
  auto self = shared_from_this();
  if (!stdin_.is_open()) co_return fail(Code::kFailedPrecondition, "stdin is closed");
  auto [ec, n] = co_await asio::async_write(stdin_, asio::buffer(data), kUse);
  if (ec) co_return fail(Code::kInternal, "write stdin: " + ec.message());
  co_return n;
}

void ChildProcess::closeStdin() {
  asio::error_code ignored;
  stdin_.close(ignored);
}

Status ChildProcess::signal(int sig) {
  if (exited()) return {};
  // Through the pidfd: the pid may already belong to someone else once it was reaped.
  if (::syscall(SYS_pidfd_send_signal, pidfd_.native_handle(), sig, nullptr, 0) != 0 &&
      errno != ESRCH) {
    return fail(Code::kInternal, "signal " + std::to_string(sig) + " to " + std::to_string(pid_) +
                                     ": " + std::strerror(errno));
  }
  return {};
}

}  // namespace pp::testagent
