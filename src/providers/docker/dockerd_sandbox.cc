// A private dockerd for tests (see dockerd_sandbox.h).
#include "providers/docker/dockerd_sandbox.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "base/random.h"
#include "providers/docker/engine_client.h"

namespace pp::providers::docker::testing {
namespace {

using namespace std::chrono_literals;

int sh(const std::string& cmd) {
  return std::system(cmd.c_str());
}

}  // namespace

std::string DockerdSandbox::unavailable() {
  if (::geteuid() != 0) return "needs root to run dockerd in a network namespace";
  if (sh("command -v dockerd >/dev/null") != 0)
    return "dockerd is not installed (scripts/install-deps)";
  if (sh("command -v busybox >/dev/null") != 0)
    return "busybox is not installed (scripts/install-deps)";
  return "";
}

std::string DockerdSandbox::start() {
  int n = static_cast<int>(rnd::u64() % 100000);
  dir_ = "/tmp/pd" + std::to_string(n);
  netns_ = "ppdock" + std::to_string(n);
  std::filesystem::create_directories(dir_);
  if (sh("ip netns add " + netns_) != 0) return "ip netns add " + netns_ + " failed";
  if (sh("ip netns exec " + netns_ + " ip link set lo up") != 0) return "lo in " + netns_;
  // nsenter, not "ip netns exec": the latter remounts /sys and hides the cgroup mounts.
  std::string cmd =
      "nsenter --net=/run/netns/" + netns_ + " dockerd --host " + host() + " --data-root " + dir_ +
      "/root --exec-root " + dir_ + "/x --pidfile " + dir_ + "/d.pid --bip 198.18.201.1/24" +
      " --iptables=false --ip-masq=false --ip-forward=false >" + dir_ + "/dockerd.log 2>&1 &";
  if (sh(cmd) != 0) return "starting dockerd failed";
  auto engine = EngineClient::create({host(), kApiVersion});
  if (!engine) return engine.error().message;
  bool up = false;
  for (int i = 0; i < 200 && !up; ++i) {
    auto r = engine->call("GET", "/_ping");
    up = r && r->status == 200;
    if (!up) std::this_thread::sleep_for(100ms);
  }
  if (!up) return "dockerd did not start; see " + dir_ + "/dockerd.log";
  // A busybox rootfs as the "pod VM" image.
  if (sh("mkdir -p " + dir_ + "/rootfs/bin && cp $(command -v busybox) " + dir_ +
         "/rootfs/bin/busybox && ln -sf busybox " + dir_ + "/rootfs/bin/sh && ln -sf busybox " +
         dir_ + "/rootfs/bin/sleep && ln -sf busybox " + dir_ + "/rootfs/bin/cat") != 0)
    return "making the busybox rootfs failed";
  if (sh("tar -C " + dir_ + "/rootfs -c . | curl -sf --unix-socket " + dir_ +
         "/d.sock -X POST -H 'Content-Type: application/x-tar' --data-binary @- "
         "'http://d/v1.41/images/"
         "create?fromSrc=-&repo=pp-test-podvm&tag=1&changes=CMD%20%5B%22%2Fbin%2Fsleep%22%"
         "2C%22600%22%5D' >/dev/null") != 0)
    return "importing the pod VM image failed";
  return "";
}

DockerConfig DockerdSandbox::config() const {
  DockerConfig c;
  c.dockerHost = host();
  c.apiVersion = kApiVersion;
  c.podvmImage = kImage;
  c.networkName = "bridge";
  c.dataDir = dir_ + "/data";
  return c;
}

DockerdSandbox::~DockerdSandbox() {
  if (dir_.empty()) return;
  std::ifstream pidFile(dir_ + "/d.pid");
  pid_t pid = 0;
  if (pidFile >> pid && pid > 0) {
    ::kill(pid, SIGTERM);
    for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(100ms);
  }
  sh("umount -R " + dir_ + "/root " + dir_ + "/x 2>/dev/null; true");
  if (!netns_.empty()) sh("ip netns del " + netns_ + " 2>/dev/null; true");
  std::filesystem::remove_all(dir_);
}

}  // namespace pp::providers::docker::testing
