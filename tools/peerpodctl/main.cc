// peerpodctl: an operator's tool for cloud-api-adaptor.
//   peerpodctl list                          sandboxes in the pods dir: phase, instance, IP, age
//   peerpodctl run [options] -- CMD...       play the Kata shim: new pod VM, run CMD, print its
//   output peerpodctl exec <sandbox-id> -- CMD...   run CMD in a running sandbox's container
//   peerpodctl delete <sandbox-id>           StopVM: delete the pod VM
//   peerpodctl -help | -version
// A sandbox id may be shortened to any prefix that names one sandbox in the pods dir.
// Each phase is printed to stderr with its duration.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/files.h"
#include "base/log.h"
#include "build_info.h"
#include "sandbox_ids.h"
#include "shim_client.h"

namespace {

using namespace pp;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string socket = "/run/peerpod/hypervisor.sock";
  std::string podsDir = "/run/peerpod/pods";
  peerpodctl::PodOptions pod;
  bool keep = false;
  bool quiet = false;
  std::vector<std::string> positional;
  std::vector<std::string> command;
};

void usage(FILE* out) {
  std::fprintf(
      out,
      "Usage:\n"
      "  peerpodctl list\n"
      "  peerpodctl run [--image IMG] [--name POD] [--namespace NS] [--netns PATH]\n"
      "                 [--instance-type T] [--vcpus N] [--memory MiB] [--keep] -- CMD [ARGS...]\n"
      "  peerpodctl exec SANDBOX_ID -- CMD [ARGS...]\n"
      "  peerpodctl delete SANDBOX_ID\n"
      "  peerpodctl -help | -version\n"
      "SANDBOX_ID: the id or any prefix of it that names one sandbox (list shows 12 "
      "characters)\n"
      "Common: --socket PATH (/run/peerpod/hypervisor.sock; env REMOTE_HYPERVISOR_ENDPOINT)\n"
      "        --pods-dir DIR (/run/peerpod/pods; env PODS_DIR)  --quiet (no phase timings)\n");
}

class Phases {
 public:
  explicit Phases(bool quiet) : quiet_(quiet), start_(Clock::now()), last_(start_) {}
  void done(const char* what) {
    auto now = Clock::now();
    if (!quiet_) {
      std::fprintf(stderr, "peerpodctl: %-28s %8.0f ms  (total %.0f ms)\n", what,
                   std::chrono::duration<double, std::milli>(now - last_).count(),
                   std::chrono::duration<double, std::milli>(now - start_).count());
    }
    last_ = now;
  }

 private:
  bool quiet_;
  Clock::time_point start_, last_;
};

int failWith(const char* what, const Error& e) {
  std::fprintf(stderr, "peerpodctl: %s: %s\n", what, e.toString().c_str());
  return 1;
}

int runCommand(const Options& o) {
  if (o.command.empty()) {
    std::fprintf(stderr, "peerpodctl run: no command given (use -- CMD ...)\n");
    return 2;
  }
  Phases phases(o.quiet);
  peerpodctl::ShimClient shim(o.socket);
  std::string id = peerpodctl::ShimClient::newSandboxId();
  auto agentSocket = shim.createVM(id, o.pod);
  if (!agentSocket) return failWith("CreateVM", agentSocket.error());
  phases.done("CreateVM");
  std::fprintf(stderr, "peerpodctl: sandbox %s\n", id.c_str());
  auto cleanup = [&](int rc) {
    if (o.keep) {
      std::fprintf(stderr, "peerpodctl: keeping sandbox %s (peerpodctl delete %s)\n", id.c_str(),
                   id.c_str());
      return rc;
    }
    if (auto st = shim.stopVM(id); !st) {
      failWith("StopVM", st.error());
      return rc == 0 ? 1 : rc;
    }
    phases.done("StopVM");
    return rc;
  };
  if (auto st = shim.startVM(id); !st) {
    failWith("StartVM", st.error());
    phases.done("StartVM (failed)");  // so that the StopVM line times StopVM alone
    return cleanup(1);
  }
  phases.done("StartVM");
  if (auto st = shim.connectAgent(*agentSocket); !st)
    return cleanup(failWith("agent connect", st.error()));
  if (auto st = shim.healthCheck(); !st) return cleanup(failWith("Health.Check", st.error()));
  phases.done("agent answered");
  if (auto st = shim.createSandbox(id, o.pod.podName); !st)
    return cleanup(failWith("CreateSandbox", st.error()));
  peerpodctl::ProcessSpec proc;
  proc.args = o.command;
  if (auto st = shim.createContainer(id, proc); !st)
    return cleanup(failWith("CreateContainer", st.error()));
  if (auto st = shim.startContainer(id); !st)
    return cleanup(failWith("StartContainer", st.error()));
  phases.done("container started");
  auto status = shim.waitWithOutput(
      id, id, [](std::string_view d) { (void)!::write(STDOUT_FILENO, d.data(), d.size()); },
      [](std::string_view d) { (void)!::write(STDERR_FILENO, d.data(), d.size()); });
  if (!status) return cleanup(failWith("WaitProcess", status.error()));
  phases.done("container exited");
  std::fprintf(stderr, "peerpodctl: exit code %d\n", *status);
  if (!o.keep) {
    (void)shim.removeContainer(id);
    (void)shim.destroySandbox();
  }
  return cleanup(*status);
}

int execCommand(const Options& o) {
  if (o.positional.size() != 1 || o.command.empty()) {
    usage(stderr);
    return 2;
  }
  auto resolved = peerpodctl::resolveSandboxId(o.podsDir, o.positional[0]);
  if (!resolved) return failWith("exec", resolved.error());
  const std::string& id = *resolved;
  Phases phases(o.quiet);
  peerpodctl::ShimClient shim(o.socket);
  if (auto st = shim.connectAgent(o.podsDir + "/" + id + "/agent.ttrpc", std::chrono::seconds(5));
      !st) {
    return failWith("agent connect", st.error());
  }
  std::string execId = peerpodctl::ShimClient::newSandboxId().substr(0, 16);
  peerpodctl::ProcessSpec proc;
  proc.args = o.command;
  if (auto st = shim.execProcess(id, execId, proc); !st) return failWith("ExecProcess", st.error());
  phases.done("ExecProcess");
  auto status = shim.waitWithOutput(
      id, execId, [](std::string_view d) { (void)!::write(STDOUT_FILENO, d.data(), d.size()); },
      [](std::string_view d) { (void)!::write(STDERR_FILENO, d.data(), d.size()); });
  if (!status) return failWith("WaitProcess", status.error());
  phases.done("process exited");
  return *status;
}

int deleteCommand(const Options& o) {
  if (o.positional.size() != 1) {
    usage(stderr);
    return 2;
  }
  // A prefix is resolved in the pods dir; an id it does not hold goes to the adaptor as given
  // (which answers for sandboxes it knows), but an ambiguous prefix stops here.
  std::string id = o.positional[0];
  auto resolved = peerpodctl::resolveSandboxId(o.podsDir, id);
  if (resolved) {
    id = *resolved;
  } else if (resolved.error().code != Code::kNotFound) {
    return failWith("delete", resolved.error());
  }
  Phases phases(o.quiet);
  peerpodctl::ShimClient shim(o.socket);
  if (auto st = shim.stopVM(id); !st) return failWith("StopVM", st.error());
  phases.done("StopVM");
  return 0;
}

int listCommand(const Options& o) {
  std::printf("%-14s %-30s %-9s %-34s %-16s %s\n", "SANDBOX", "POD", "PHASE", "INSTANCE", "IP",
              "AGE");
  std::error_code ec;
  if (!std::filesystem::is_directory(o.podsDir, ec)) return 0;
  std::time_t now = std::time(nullptr);
  for (const auto& entry : std::filesystem::directory_iterator(o.podsDir, ec)) {
    auto text = files::readFile((entry.path() / "state.json").string(), 4u << 20);
    if (!text) continue;
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    std::string ips;
    for (const auto& ip : j.value("ips", std::vector<std::string>{}))
      ips += (ips.empty() ? "" : ",") + ip;
    long age = static_cast<long>(now - j.value("createdAt", int64_t{now}));
    std::printf("%-14s %-30s %-9s %-34s %-16s %lds\n", j.value("id", "").substr(0, 12).c_str(),
                (j.value("podNamespace", "") + "/" + j.value("podName", "")).c_str(),
                j.value("phase", "").c_str(), j.value("instanceId", "-").c_str(),
                ips.empty() ? "-" : ips.c_str(), age);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (const char* s = std::getenv("REMOTE_HYPERVISOR_ENDPOINT"); s && *s) o.socket = s;
  if (const char* s = std::getenv("PODS_DIR"); s && *s) o.podsDir = s;
  if (!std::getenv("PEERPODS_LOG_LEVEL")) log::setLevel(log::Level::kWarn);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" ||
      args[0] == "help") {
    usage(args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "-version" || args[0] == "--version" || args[0] == "version") {
    std::fputs(build::versionText("peerpodctl").c_str(), stdout);
    return 0;
  }
  std::string cmd = args[0];
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* name) -> std::string {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "peerpodctl: %s needs a value\n", name);
        std::exit(2);
      }
      return args[++i];
    };
    try {
      if (a == "--") {
        o.command.assign(args.begin() + static_cast<long>(i) + 1, args.end());
        break;
      } else if (a == "-h" || a == "-help" || a == "--help") {
        usage(stdout);
        return 0;
      } else if (a == "-version" || a == "--version") {
        std::fputs(build::versionText("peerpodctl").c_str(), stdout);
        return 0;
      } else if (a == "--socket")
        o.socket = value("--socket");
      else if (a == "--pods-dir")
        o.podsDir = value("--pods-dir");
      else if (a == "--image")
        o.pod.image = value("--image");
      else if (a == "--name")
        o.pod.podName = value("--name");
      else if (a == "--namespace")
        o.pod.podNamespace = value("--namespace");
      else if (a == "--netns")
        o.pod.netnsPath = value("--netns");
      else if (a == "--instance-type")
        o.pod.instanceType = value("--instance-type");
      else if (a == "--vcpus")
        o.pod.vcpus = static_cast<uint32_t>(std::stoul(value("--vcpus")));
      else if (a == "--memory")
        o.pod.memoryMiB = static_cast<uint32_t>(std::stoul(value("--memory")));
      else if (a == "--keep")
        o.keep = true;
      else if (a == "--quiet")
        o.quiet = true;
      else if (a.rfind("-", 0) == 0) {
        std::fprintf(stderr, "peerpodctl: unknown option %s\n", a.c_str());
        usage(stderr);
        return 2;
      } else
        o.positional.push_back(a);
    } catch (const std::exception&) {
      std::fprintf(stderr, "peerpodctl: bad number for %s\n", a.c_str());
      return 2;
    }
  }
  if (cmd == "run") return runCommand(o);
  if (cmd == "exec") return execCommand(o);
  if (cmd == "delete") return deleteCommand(o);
  if (cmd == "list") return listCommand(o);
  std::fprintf(stderr, "peerpodctl: unknown command %s\n", cmd.c_str());
  usage(stderr);
  return 2;
}
