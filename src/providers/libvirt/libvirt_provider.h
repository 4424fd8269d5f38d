// The libvirt provider: a pod VM is a libvirt domain (upstream-providers.md §2.7) booted either
// from a qcow2 overlay on a base volume in a storage pool, or directly from a kernel + initramfs
// (the images podvm/build makes). The NoCloud "cidata" ISO is built in-process and attached as
// an IDE CD-ROM; the IP comes from the network's DHCP lease. Instances are identified by the
// domain UUID, which, unlike upstream's numeric domain ID, survives domain restarts.
#pragma once

#include <libvirt/libvirt.h>

#include <chrono>
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
  std::string dataDir;
  bool disableCvm = false;
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
  Status verifyConfig() override;
  Status teardown() override;

  // The domain XML for a request (exposed for tests).
  std::string domainXml(const CreateRequest& request, const std::string& uuid,
                        const std::string& isoPath, const std::string& rootDiskPath) const;

 private:
  explicit LibvirtProvider(LibvirtConfig config) : config_(std::move(config)) {}
  Result<std::string> createRootDisk(const std::string& name, const std::string& baseVolume);
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
