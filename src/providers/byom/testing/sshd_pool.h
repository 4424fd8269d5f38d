// For tests: a pool of "pod VMs", each a real OpenSSH sshd (/usr/sbin/sshd) with its own host
// key and address, in a network namespace made for the pool (198.18.210.1, .2, ... on its
// loopback). SFTP only (ForceCommand internal-sftp) with key authentication as root, each
// session starting in the VM's own directory, which stands for the VM's /media (so upstream's
// relative "cidata/user-data" lands in <vm dir>/cidata/user-data).
//
// start() moves the CALLING THREAD into the namespace (threads it starts later, such as a fake
// API server's, follow), so that the provider under test reaches the VMs; the destructor stops
// every sshd, moves the thread back and deletes the namespace and the files. Needs root.
#pragma once

#include <string>
#include <vector>

namespace pp::providers::byom::testing {

class SshdPool {
 public:
  SshdPool() = default;
  SshdPool(const SshdPool&) = delete;
  SshdPool& operator=(const SshdPool&) = delete;
  ~SshdPool();

  // Why this machine cannot run one (a reason to skip); "" when it can.
  static std::string unavailable();
  // Starts `vms` sshd: "" on success, else what failed. With `sharedAddresses` (only with one
  // VM: sshd listens on at most 16 addresses, so it then listens on every address of the
  // namespace) that VM also answers on 198.18.211.1... (sharedIps()): many pool entries, one
  // sshd.
  std::string start(int vms, int sharedAddresses = 0);

  std::vector<std::string> ips() const;
  const std::vector<std::string>& sharedIps() const { return shared_; }
  const std::string& ip(int vm) const { return ips_.at(vm); }
  // The client key, mode 0600, authorised on every VM.
  std::string privateKeyPath() const { return dir_ + "/client/id_ed25519"; }
  std::string privateKeyText() const;
  // The VM's host public key file (ssh-ed25519 AAAA... comment).
  std::string hostKeyPubPath(int vm) const;
  // The directory the VM's SFTP sessions start in (its "/media").
  std::string mediaDir(int vm) const;
  // <media>/cidata/<name>: its content, or "" when absent.
  std::string cidataFile(int vm, const std::string& name) const;
  bool hasCidataFile(int vm, const std::string& name) const;
  void clearCidata(int vm) const;

  // Stops / starts the VM's sshd (an unreachable VM: connections are refused).
  void stopVm(int vm);
  std::string startVm(int vm);
  // A re-installed VM: a new host key, sshd restarted.
  std::string replaceHostKey(int vm);

  const std::string& dir() const { return dir_; }
  const std::string& netns() const { return netns_; }

 private:
  std::string vmDir(int vm) const;
  std::string writeConfig(int vm) const;

  std::string dir_;
  std::string netns_;
  int originalNetns_ = -1;
  std::vector<std::string> ips_;
  std::vector<std::string> shared_;
  std::vector<int> pids_;
};

}  // namespace pp::providers::byom::testing
