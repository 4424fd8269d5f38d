// The libvirt provider: a pod VM is a libvirt domain (upstream src/cloud-providers/libvirt) booted
// either from a qcow2 overlay on a base volume in a storage pool, or directly from a kernel +
// initramfs (the images podvm/build makes; paths on the libvirt host). The NoCloud "cidata" ISO is
// built in-process and uploaded into the storage pool as volume <name>-cloudinit.iso, attached as
// an IDE CD-ROM (SATA sdb with -firmware, as upstream); the IP comes from the network's DHCP lease.
// Everything a VM has lives on the libvirt host (volumes <name>-root.qcow2, -cloudinit.iso and
// -console.log in the pool), so a remote URI (qemu+ssh://) works, and all of it is deleted with
// the domain. Instances are identified by the domain UUID, which, unlike upstream's numeric
// domain ID, survives domain restarts.
#pragma once

#include <libvirt/libvirt.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "providers/provider.h"

namespace pp::providers::libvirt {

struct LibvirtConfig {
  std::string uri;
  std::string poolName;
  std::string networkName;
  std::string volName;
  std::string launchSecurity;
  std::string firmware;
  int64_t cpu = 2;
  int64_t memoryMiB = 8192;
  std::string dataDir;  // upstream's flag; unused: per-VM files are volumes in the pool
  bool disableCvm = true;
  std::string cpuset;             // <vcpu cpuset=...>: "0,2,4-7"; empty: no pinning
  uint64_t rootDiskSizeGiB = 10;  // at least the base volume's capacity; 0: the default (10)
  // Ours.
  std::string domainType;  // "kvm" (upstream) or "qemu" (TCG: where KVM does not work)
  std::string kernel;      // direct kernel boot when set
  std::string initrd;
  std::string cmdline;
  std::chrono::nanoseconds ipTimeout{};
};

class LibvirtProvider final : public Provider {
 public:
  static Result<std::unique_ptr<Provider>> create(const LibvirtConfig& config);
  ~LibvirtProvider() override;

  Result<Instance> createInstance(const CreateRequest& request) override;
  Status deleteInstance(const std::string& id) override;
  // Domains whose peerpods metadata names the sandbox (every pod VM domain for an empty tag).
  Result<std::vector<Instance>> listInstances(const std::string& tag) override;
  Status verifyConfig() override;
  Status teardown() override;

  // The domain XML for a request (exposed for tests).
  // isoPath, rootDiskPath and consoleLogPath are paths on the libvirt host (volume paths);
  // an empty consoleLogPath leaves the serial console unlogged.
  std::string domainXml(const CreateRequest& request, const std::string& uuid,
                        const std::string& isoPath, const std::string& rootDiskPath,
                        const std::string& consoleLogPath = "") const;

 private:
  explicit LibvirtProvider(LibvirtConfig config) : config_(std::move(config)) {}
  // fromAnnotation: the pod named baseVolume; per-VM volumes of other pod VMs are refused.
  Result<std::string> createRootDisk(const std::string& name, const std::string& baseVolume,
                                     bool fromAnnotation);
  // Creates volume <volumeName> in the pool holding `data` (raw) and returns its path.
  Result<std::string> uploadVolume(const std::string& volumeName, const std::string& data);
  // True when the URI names another host (qemu+ssh://user@host/system): files named in the
  // configuration are then on that host, not here.
  bool remote() const;
  // Refuses a base volume that is the disk of a running domain (another pod's root disk): a
  // pod's image annotation must not give it a copy of another VM's live data.
  Status checkNotALiveDisk(const std::string& volumeName, const std::string& volumePath);
  void removeArtifacts(const std::string& name);
  Result<std::vector<std::string>> waitForIps(virDomainPtr dom, const std::string& name);

  LibvirtConfig config_;
  virConnectPtr conn_ = nullptr;
  std::mutex mu_;  // libvirt connections are thread-safe; this guards our own check-then-act
};

}  // namespace pp::providers::libvirt
