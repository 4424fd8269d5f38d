// The simulator child process (see vcsim_process.h).
#include "providers/vsphere/testing/vcsim_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

namespace pp::providers::vsphere::testing {

VcsimProcess::~VcsimProcess() {
  stop();
}

Status VcsimProcess::start() {
  const std::string binary = PP_VCSIM;
  if (!std::filesystem::exists(binary))
    return fail(Code::kFailedPrecondition,
                binary +
                    " is missing: it is built from src/providers/vsphere/testing/vcsim with "
                    "golang-go and golang-github-vmware-govmomi-dev (scripts/install-deps)");
  int toChild[2], fromChild[2];
  if (::pipe2(toChild, O_CLOEXEC) != 0 || ::pipe2(fromChild, O_CLOEXEC) != 0)
    return fail(Code::kInternal, "pipe failed");
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(toChild[0], 0);
    ::dup2(fromChild[1], 1);
    ::execl(binary.c_str(), binary.c_str(), "-user", kVcsimUser, "-password", kVcsimPassword,
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(toChild[0]);
  ::close(fromChild[1]);
  in_ = toChild[1];
  out_ = fromChild[0];
  if (pid_ < 0) return fail(Code::kInternal, "fork failed");
  auto first = readLine(30000);
  if (!first) return fail(first.error().wrap("vcsim did not start"));
  auto j = nlohmann::json::parse(*first, nullptr, false);
  if (!j.is_object() || !j.contains("url"))
    return fail(Code::kInternal, "vcsim printed: " + *first);
  url_ = j["url"].get<std::string>();
  thumbprint_ = j["thumbprint"].get<std::string>();
  return {};
}

void VcsimProcess::stop() {
  if (in_ >= 0) ::close(in_), in_ = -1;
  if (pid_ > 0) {
    // stdin closed: it exits by itself; SIGTERM if it does not within 5 s.
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      ::usleep(50000);
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  if (out_ >= 0) ::close(out_), out_ = -1;
}

Result<std::string> VcsimProcess::readLine(int timeoutMs) {
  for (;;) {
    if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    pollfd p{out_, POLLIN, 0};
    int rc = ::poll(&p, 1, timeoutMs);
    if (rc <= 0) return fail(Code::kDeadlineExceeded, "vcsim: no answer");
    char buf[65536];
    ssize_t n = ::read(out_, buf, sizeof buf);
    if (n <= 0) return fail(Code::kUnavailable, "vcsim exited");
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

Result<nlohmann::json> VcsimProcess::command(const std::string& line) {
  std::string l = line + "\n";
  if (::write(in_, l.data(), l.size()) != static_cast<ssize_t>(l.size()))
    return fail(Code::kUnavailable, "vcsim: cannot write a command");
  auto answer = readLine(30000);
  if (!answer) return fail(answer.error());
  auto j = nlohmann::json::parse(*answer, nullptr, false);
  if (j.is_discarded()) return fail(Code::kInternal, "vcsim answered: " + *answer);
  if (j.is_object() && j.contains("error"))
    return fail(Code::kInternal, "vcsim: " + j["error"].get<std::string>());
  return j;
}

std::vector<nlohmann::json> VcsimProcess::vms() {
  auto j = command("vms");
  std::vector<nlohmann::json> out;
  if (j && j->is_array())
    for (auto& v : *j) out.push_back(v);
  return out;
}

std::vector<std::string> VcsimProcess::sessionKeys() {
  auto j = command("sessions");
  std::vector<std::string> out;
  if (j && j->contains("sessions"))
    for (auto& k : (*j)["sessions"]) out.push_back(k.get<std::string>());
  return out;
}

}  // namespace pp::providers::vsphere::testing
