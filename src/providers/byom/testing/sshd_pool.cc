#include "providers/byom/testing/sshd_pool.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/files.h"
#include "providers/byom/sftp_client.h"

namespace pp::providers::byom::testing {

namespace fs = std::filesystem;

namespace {

int sh(const std::string& command) {
  int rc = std::system((command + " >/dev/null 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string readAll(const std::string& path) {
  auto text = files::readFile(path);
  return text ? *text : "";
}

}  // namespace

std::string SshdPool::unavailable() {
  if (geteuid() != 0) return "needs root (network namespaces, sshd)";
  if (access("/usr/sbin/sshd", X_OK) != 0) return "no /usr/sbin/sshd (openssh-server)";
  if (access("/usr/bin/ssh-keygen", X_OK) != 0) return "no ssh-keygen (openssh-client)";
  if (sh("command -v ip") != 0) return "no ip (iproute2)";
  return "";
}

std::string SshdPool::vmDir(int vm) const {
  return dir_ + "/vm" + std::to_string(vm);
}
std::string SshdPool::mediaDir(int vm) const {
  return vmDir(vm) + "/media";
}
std::string SshdPool::hostKeyPubPath(int vm) const {
  return vmDir(vm) + "/host_ed25519.pub";
}
std::string SshdPool::privateKeyText() const {
  return readAll(privateKeyPath());
}
std::vector<std::string> SshdPool::ips() const {
  return ips_;
}

std::string SshdPool::cidataFile(int vm, const std::string& name) const {
  return readAll(mediaDir(vm) + "/cidata/" + name);
}
bool SshdPool::hasCidataFile(int vm, const std::string& name) const {
  return fs::is_regular_file(mediaDir(vm) + "/cidata/" + name);
}
void SshdPool::clearCidata(int vm) const {
  std::error_code ec;
  fs::remove_all(mediaDir(vm) + "/cidata", ec);
}

std::string SshdPool::writeConfig(int vm) const {
  std::ofstream out(vmDir(vm) + "/sshd_config");
  out << "ListenAddress " << (shared_.empty() ? ips_[vm] : "0.0.0.0") << ":22\n";
  out << "HostKey " << vmDir(vm) << "/host_ed25519\n"
      << "AuthorizedKeysFile " << dir_ << "/client/authorized_keys\n"
      << "PidFile " << vmDir(vm) << "/sshd.pid\n"
      << "AllowUsers root\nPermitRootLogin prohibit-password\nPubkeyAuthentication yes\n"
      << "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
      << "StrictModes no\nX11Forwarding no\nAllowTcpForwarding no\nAllowAgentForwarding no\n"
      << "PermitTTY no\nPrintMotd no\nLogLevel VERBOSE\nMaxStartups 200\n"
      << "Subsystem sftp internal-sftp\n"
      << "ForceCommand internal-sftp -d " << mediaDir(vm) << "\n";
  return out ? "" : "cannot write the sshd config of vm " + std::to_string(vm);
}

std::string SshdPool::start(int vms, int sharedAddresses) {
  if (sharedAddresses > 0 && vms != 1) return "shared addresses need exactly one VM";
  static std::atomic<int> counter{0};
  const std::string tag = std::to_string(getpid()) + "-" + std::to_string(counter++);
  dir_ = (fs::temp_directory_path() / ("pp-byom-" + tag)).string();
  std::error_code ec;
  fs::create_directories(dir_ + "/client", ec);
  if (ec) return "cannot create " + dir_;
  // sshd's privilege separation directory (as the package's unit creates it).
  if (!fs::exists("/run/sshd")) fs::create_directory("/run/sshd", ec);
  if (sh("ssh-keygen -q -t ed25519 -N '' -C byom-test-adaptor -f " + privateKeyPath()) != 0)
    return "ssh-keygen (client key) failed";
  fs::copy_file(privateKeyPath() + ".pub", dir_ + "/client/authorized_keys", ec);

  netns_ = "ppbyom" + tag;
  if (sh("ip netns add " + netns_) != 0) return "ip netns add " + netns_ + " failed";
  const std::string in = "ip netns exec " + netns_ + " ";
  if (sh(in + "ip link set lo up") != 0) return "lo up in " + netns_;
  for (int vm = 0; vm < vms; ++vm) {
    ips_.push_back("198.18.210." + std::to_string(vm + 1));
    if (sh(in + "ip addr add " + ips_.back() + "/32 dev lo") != 0) return "address " + ips_.back();
  }
  for (int i = 0; i < sharedAddresses; ++i) {
    shared_.push_back("198.18.211." + std::to_string(i + 1));
    if (sh(in + "ip addr add " + shared_.back() + "/32 dev lo") != 0)
      return "address " + shared_.back();
  }
  // This thread joins the namespace; it comes back in the destructor.
  originalNetns_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  int target = open(("/run/netns/" + netns_).c_str(), O_RDONLY | O_CLOEXEC);
  if (originalNetns_ < 0 || target < 0 || setns(target, CLONE_NEWNET) != 0) {
    if (target >= 0) close(target);
    return "cannot enter network namespace " + netns_;
  }
  close(target);
  pids_.assign(vms, 0);
  for (int vm = 0; vm < vms; ++vm) {
    fs::create_directories(mediaDir(vm), ec);
    if (sh("ssh-keygen -q -t ed25519 -N '' -C byom-test-vm" + std::to_string(vm) + " -f " +
           vmDir(vm) + "/host_ed25519") != 0)
      return "ssh-keygen (host key) failed";
    if (auto e = writeConfig(vm); !e.empty()) return e;
    if (auto e = startVm(vm); !e.empty()) return e;
  }
  return "";
}

std::string SshdPool::startVm(int vm) {
  const std::string pidFile = vmDir(vm) + "/sshd.pid";
  std::error_code ec;
  fs::remove(pidFile, ec);
  // The thread is in the namespace; nsenter says so explicitly all the same.
  if (sh("nsenter --net=/run/netns/" + netns_ + " /usr/sbin/sshd -f " + vmDir(vm) +
         "/sshd_config -E " + vmDir(vm) + "/sshd.log") != 0)
    return "sshd of vm " + std::to_string(vm) + " did not start, see " + vmDir(vm) + "/sshd.log";
  for (int i = 0; i < 100; ++i) {
    std::string pid = readAll(pidFile);
    if (!pid.empty() && probeTcp(ips_[vm], 22, std::chrono::milliseconds(200))) {
      pids_[vm] = std::atoi(pid.c_str());
      return "";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return "sshd of vm " + std::to_string(vm) + " does not answer on " + ips_[vm] + ":22";
}

void SshdPool::stopVm(int vm) {
  int pid = pids_.at(vm);
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  // Gone, or a zombie (the daemon's parent is whoever reaps orphans here, maybe nobody).
  auto alive = [pid] {
    std::string stat = readAll("/proc/" + std::to_string(pid) + "/stat");
    auto paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
  };
  for (int i = 0; i < 200 && alive(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  pids_[vm] = 0;
  // Sessions already accepted are children of the listener; they end with their client.
}

std::string SshdPool::replaceHostKey(int vm) {
  stopVm(vm);
  std::error_code ec;
  fs::remove(vmDir(vm) + "/host_ed25519", ec);
  fs::remove(vmDir(vm) + "/host_ed25519.pub", ec);
  if (sh("ssh-keygen -q -t ed25519 -N '' -C byom-test-vm" + std::to_string(vm) + "-new -f " +
         vmDir(vm) + "/host_ed25519") != 0)
    return "ssh-keygen (new host key) failed";
  return startVm(vm);
}

SshdPool::~SshdPool() {
  for (size_t vm = 0; vm < pids_.size(); ++vm) stopVm(static_cast<int>(vm));
  if (originalNetns_ >= 0) {
    setns(originalNetns_, CLONE_NEWNET);
    close(originalNetns_);
  }
  if (!netns_.empty()) sh("ip netns del " + netns_);
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

}  // namespace pp::providers::byom::testing
