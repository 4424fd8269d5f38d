// The libvirt provider against libvirt's test driver (test:///default): no daemon, real API.
// The test driver keeps volumes as metadata only (no upload); scripts/e2e libvirt and
// libvirt-remote run the same code against a real libvirtd, locally and over qemu+ssh.
#include "providers/libvirt/libvirt_provider.h"

#include <gtest/gtest.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "providers/libvirt/test_driver_config.h"
#include "providers/registry.h"

namespace pp::providers::libvirt {
namespace {

class LibvirtTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testDriver_ = std::make_unique<testdriver::TestDriverConfig>("lv");
    dir_ = testDriver_->dir;
    config_ = testDriver_->config;
  }
  void TearDown() override { testDriver_.reset(); }

  // A second connection to the same test driver state, to look at what the provider made.
  struct Peek {
    Peek() {
      conn = virConnectOpen("test:///default");
      pool = conn ? virStoragePoolLookupByName(conn, "default-pool") : nullptr;
    }
    ~Peek() {
      if (pool) virStoragePoolFree(pool);
      if (conn) virConnectClose(conn);
    }
    // The volume's XML, "" when it does not exist.
    std::string volumeXml(const std::string& name) {
      virStorageVolPtr v = virStorageVolLookupByName(pool, name.c_str());
      virResetLastError();
      if (!v) return "";
      char* x = virStorageVolGetXMLDesc(v, 0);
      std::string out = x ? x : "";
      std::free(x);
      virStorageVolFree(v);
      return out;
    }
    void makeVolume(const std::string& name, const std::string& format, uint64_t bytes) {
      std::string xml = "<volume><name>" + name + "</name><capacity unit='bytes'>" +
                        std::to_string(bytes) + "</capacity><target><format type='" + format +
                        "'/></target></volume>";
      virStorageVolPtr vol = virStorageVolCreateXML(pool, xml.c_str(), 0);
      ASSERT_NE(vol, nullptr) << name;
      virStorageVolFree(vol);
    }
    void removeVolume(const std::string& name) {
      if (virStorageVolPtr v = virStorageVolLookupByName(pool, name.c_str())) {
        virStorageVolDelete(v, 0);
        virStorageVolFree(v);
      }
      virResetLastError();
    }
    std::string domainXml(const std::string& uuid) {
      virDomainPtr d = virDomainLookupByUUIDString(conn, uuid.c_str());
      virResetLastError();
      if (!d) return "";
      char* x = virDomainGetXMLDesc(d, 0);
      std::string out = x ? x : "";
      std::free(x);
      virDomainFree(d);
      return out;
    }
    virConnectPtr conn = nullptr;
    virStoragePoolPtr pool = nullptr;
  };

  // Disk boot from base volume podvm-base.qcow2 instead of the kernel.
  LibvirtConfig diskConfig() {
    auto c = config_;
    c.kernel.clear();
    c.initrd.clear();
    return c;
  }

  CreateRequest request(const std::string& name) {
    CreateRequest r;
    r.podName = "web";
    r.podNamespace = "default";
    r.sandboxId = "0123456789abcdef";
    r.instanceName = name;
    r.userData = "#cloud-config\nwrite_files: []\n";
    r.spec.vcpus = 1;
    return r;
  }

  std::unique_ptr<testdriver::TestDriverConfig> testDriver_;
  std::filesystem::path dir_;
  LibvirtConfig config_;
};

TEST_F(LibvirtTest, DomainXmlHasTypeSizesDirectBootAndIdeCdrom) {
  auto p = LibvirtProvider::create(config_);
  ASSERT_TRUE(p) << p.error().message;
  auto* lp = static_cast<LibvirtProvider*>(p->get());
  auto req = request("podvm-web-01234567");
  req.spec.memoryMiB = 1024;
  std::string xml = lp->domainXml(req, "11111111-2222-4333-8444-555555555555", "/x/ci.iso", "");
  EXPECT_NE(xml.find("<domain type='qemu'>"), std::string::npos);
  EXPECT_NE(xml.find("<memory unit='MiB'>1024</memory>"), std::string::npos);
  EXPECT_NE(xml.find("<vcpu>1</vcpu>"), std::string::npos);
  EXPECT_NE(xml.find("<kernel>" + config_.kernel + "</kernel>"), std::string::npos);
  EXPECT_NE(xml.find("<target dev='hda' bus='ide'/>"), std::string::npos);
  EXPECT_NE(xml.find("<source network='default'/>"), std::string::npos);
  EXPECT_EQ(xml.find("host-model"), std::string::npos);            // no host CPU model under TCG
  EXPECT_NE(xml.find("<rng model='virtio'>"), std::string::npos);  // guest entropy for TLS
  // A boot disk goes on virtio (the cloud kernel has no AHCI).
  std::string disk = lp->domainXml(req, "u", "/x/ci.iso", "/pool/podvm-root.qcow2");
  EXPECT_NE(
      disk.find("<source file='/pool/podvm-root.qcow2'/>\n      <target dev='vda' bus='virtio'/>"),
      std::string::npos);
  // Names are escaped.
  req.instanceName = "a<b";
  EXPECT_NE(lp->domainXml(req, "u", "i", "").find("<name>a&lt;b</name>"), std::string::npos);
  // The console log goes to the file given (a pool volume); none given, no log.
  EXPECT_EQ(xml.find("<log "), std::string::npos);
  EXPECT_NE(lp->domainXml(req, "u", "i", "", "/pool/x-console.log")
                .find("<log file='/pool/x-console.log' append='off'/>"),
            std::string::npos);
  EXPECT_NE(xml.find("<vcpu>1</vcpu>"), std::string::npos);  // no cpuset: no pinning
  EXPECT_EQ(xml.find("firmware="), std::string::npos);
}

// -firmware: UEFI (mkosi) images have no IDE; the cidata ISO goes on SATA sdb, as upstream.
TEST_F(LibvirtTest, FirmwareMovesTheCidataIsoToSata) {
  auto c = config_;
  c.firmware = "/usr/share/OVMF/OVMF_CODE.fd";
  auto p = LibvirtProvider::create(c);
  ASSERT_TRUE(p) << p.error().message;
  auto* lp = static_cast<LibvirtProvider*>(p->get());
  std::string xml = lp->domainXml(request("podvm-efi-01234567"), "u", "/pool/ci.iso", "");
  // The loader named, no autoselection (libvirt 9.0 refuses a readonly loader with it).
  EXPECT_EQ(xml.find("firmware="), std::string::npos) << xml;
  EXPECT_NE(xml.find("<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader>"),
            std::string::npos);
  EXPECT_NE(xml.find("<source file='/pool/ci.iso'/>\n      <target dev='sdb' bus='sata'/>"),
            std::string::npos)
      << xml;
  EXPECT_EQ(xml.find("bus='ide'"), std::string::npos);
}

TEST_F(LibvirtTest, CpusetPinsTheVcpusAndIsChecked) {
  auto c = config_;
  c.cpuset = "0-3,8,10-12";
  auto p = LibvirtProvider::create(c);
  ASSERT_TRUE(p) << p.error().message;
  auto* lp = static_cast<LibvirtProvider*>(p->get());
  auto req = request("podvm-pin-01234567");
  req.spec.vcpus = 2;
  EXPECT_NE(lp->domainXml(req, "u", "i", "").find("<vcpu cpuset='0-3,8,10-12'>2</vcpu>"),
            std::string::npos);
  for (const char* bad : {"ABC", "0-", "-3", "0,a,2", "0,,1", "1 2"}) {
    c.cpuset = bad;
    auto q = LibvirtProvider::create(c);
    ASSERT_FALSE(q) << bad;
    EXPECT_EQ(q.error().code, Code::kInvalidArgument);
    EXPECT_NE(q.error().message.find(std::string("invalid CPUSet format: ") + bad),
              std::string::npos)
        << q.error().message;
  }
}

// The cidata ISO and the console log are volumes in the pool (a remote libvirt host sees them),
// nothing is written to -data-dir, and the volumes go with the domain.
TEST_F(LibvirtTest, PerVmFilesAreVolumesInThePoolDeletedWithTheDomain) {
  Peek peek;
  ASSERT_NE(peek.pool, nullptr);
  auto p = LibvirtProvider::create(config_);
  ASSERT_TRUE(p) << p.error().message;
  auto inst = (*p)->createInstance(request("podvm-vol-01234567"));
  if (!inst) GTEST_SKIP() << "the test driver gave no lease: " << inst.error().message;
  std::string iso = peek.volumeXml("podvm-vol-01234567-cloudinit.iso");
  ASSERT_FALSE(iso.empty());
  EXPECT_NE(iso.find("<format type='raw'/>"), std::string::npos) << iso;
  EXPECT_EQ(iso.find("<capacity unit='bytes'>0</capacity>"), std::string::npos) << iso;
  EXPECT_FALSE(peek.volumeXml("podvm-vol-01234567-console.log").empty());
  // The domain points at the volumes' paths.
  std::string dom = peek.domainXml(inst->id);
  EXPECT_NE(dom.find("/default-pool/podvm-vol-01234567-cloudinit.iso"), std::string::npos) << dom;
  EXPECT_NE(dom.find("/default-pool/podvm-vol-01234567-console.log"), std::string::npos) << dom;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    const auto f = e.path().filename().string();
    EXPECT_TRUE(f == "vmlinuz" || f == "initrd.gz") << "written to -data-dir: " << f;
  }
  ASSERT_TRUE((*p)->deleteInstance(inst->id));
  EXPECT_TRUE(peek.volumeXml("podvm-vol-01234567-cloudinit.iso").empty());
  EXPECT_TRUE(peek.volumeXml("podvm-vol-01234567-console.log").empty());
  EXPECT_TRUE(peek.domainXml(inst->id).empty());
}

// Disk boot: an overlay on the base volume with the base volume's format as backing format,
// -root-disk-size GiB but never less than the base; all three volumes go with the domain.
TEST_F(LibvirtTest, RootDiskOverlayTakesFormatAndSizeFromTheBaseVolume) {
  Peek peek;
  ASSERT_NE(peek.pool, nullptr);
  constexpr uint64_t kGiB = 1024ull * 1024 * 1024;
  struct Case {
    std::string baseFormat;
    uint64_t baseBytes;
    uint64_t rootDiskSizeGiB;
    uint64_t want;
  };
  for (const auto& tc :
       {Case{"qcow2", 1 << 20, 10, 10 * kGiB}, Case{"raw", 1 << 20, 0, 10 * kGiB},
        Case{"qcow2", 1 << 20, 25, 25 * kGiB}, Case{"raw", 30 * kGiB, 10, 30 * kGiB}}) {
    SCOPED_TRACE(tc.baseFormat + " " + std::to_string(tc.baseBytes) + " " +
                 std::to_string(tc.rootDiskSizeGiB));
    peek.makeVolume("podvm-base.qcow2", tc.baseFormat, tc.baseBytes);
    auto c = diskConfig();
    c.rootDiskSizeGiB = tc.rootDiskSizeGiB;
    auto p = LibvirtProvider::create(c);
    ASSERT_TRUE(p) << p.error().message;
    auto inst = (*p)->createInstance(request("podvm-disk-01234567"));
    if (inst) {
      std::string root = peek.volumeXml("podvm-disk-01234567-root.qcow2");
      EXPECT_NE(root.find("<capacity unit='bytes'>" + std::to_string(tc.want) + "</capacity>"),
                std::string::npos)
          << root;
      EXPECT_NE(root.find("<path>/default-pool/podvm-base.qcow2</path>\n    <format type='" +
                          tc.baseFormat + "'/>"),
                std::string::npos)
          << root;
      std::string dom = peek.domainXml(inst->id);
      EXPECT_NE(dom.find("<source file='/default-pool/podvm-disk-01234567-root.qcow2'"),
                std::string::npos)
          << dom;
      ASSERT_TRUE((*p)->deleteInstance(inst->id));
    } else {
      EXPECT_EQ(inst.error().code, Code::kDeadlineExceeded) << inst.error().message;
    }
    for (const char* suffix : {"-root.qcow2", "-cloudinit.iso", "-console.log"})
      EXPECT_TRUE(peek.volumeXml(std::string("podvm-disk-01234567") + suffix).empty()) << suffix;
    peek.removeVolume("podvm-base.qcow2");
  }
}

// A stopped pod VM's volumes are still its own: its root disk holds the pod's data, its ISO
// the VM's TLS key. An image annotation cannot name them.
TEST_F(LibvirtTest, ImageAnnotationCannotNameAnotherPodVmsVolumes) {
  Peek peek;
  ASSERT_NE(peek.pool, nullptr);
  auto p = LibvirtProvider::create(diskConfig());
  ASSERT_TRUE(p) << p.error().message;
  for (const std::string victim :
       {"podvm-gone-12345678-root.qcow2", "podvm-gone-12345678-cloudinit.iso",
        "podvm-gone-12345678-console.log"}) {
    peek.makeVolume(victim, "raw", 1 << 20);
    auto req = request("podvm-nosy-01234567");
    req.spec.image = victim;
    auto inst = (*p)->createInstance(req);
    ASSERT_FALSE(inst) << victim;
    EXPECT_EQ(inst.error().code, Code::kPermissionDenied) << inst.error().message;
    EXPECT_NE(inst.error().message.find(victim), std::string::npos);
    for (const char* suffix : {"-root.qcow2", "-cloudinit.iso", "-console.log"})
      EXPECT_TRUE(peek.volumeXml(std::string("podvm-nosy-01234567") + suffix).empty());
    EXPECT_FALSE(peek.volumeXml(victim).empty()) << "the victim's volume must stay";
    peek.removeVolume(victim);
  }
}

// A missing base volume (image annotation or -vol-name): upstream's words, which its e2e
// suite and users' alerts match, and nothing left in the pool.
TEST_F(LibvirtTest, MissingBaseVolumeIsUpstreamsErrorAndLeavesNothing) {
  Peek peek;
  ASSERT_NE(peek.pool, nullptr);
  auto p = LibvirtProvider::create(diskConfig());
  ASSERT_TRUE(p) << p.error().message;
  auto req = request("podvm-gone-01234567");
  req.spec.image = "non-existing-image";
  auto inst = (*p)->createInstance(req);
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().code, Code::kNotFound);
  EXPECT_EQ(inst.error().message.rfind(
                "Error in creating volume: Can't retrieve volume non-existing-image", 0),
            0u)
      << inst.error().message;
  for (const char* suffix : {"-root.qcow2", "-cloudinit.iso", "-console.log"})
    EXPECT_TRUE(peek.volumeXml(std::string("podvm-gone-01234567") + suffix).empty()) << suffix;
  virDomainPtr d = virDomainLookupByName(peek.conn, "podvm-gone-01234567");
  EXPECT_EQ(d, nullptr);
  if (d) virDomainFree(d);
  virResetLastError();
}

TEST_F(LibvirtTest, CreateAndDeleteAgainstTheTestDriver) {
  auto p = LibvirtProvider::create(config_);
  ASSERT_TRUE(p) << p.error().message;
  auto inst = (*p)->createInstance(request("podvm-web-01234567"));
  // The test driver may or may not report leases; either we get an IP, or a clear timeout
  // after which the domain and its ISO are gone.
  if (inst) {
    EXPECT_EQ(inst->name, "podvm-web-01234567");
    EXPECT_EQ(inst->id.size(), 36u);
    EXPECT_FALSE(inst->ips.empty());
    auto again = (*p)->createInstance(request("podvm-web-01234567"));
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, Code::kAlreadyExists);
    ASSERT_TRUE((*p)->deleteInstance(inst->id));
  } else {
    EXPECT_EQ(inst.error().code, Code::kDeadlineExceeded) << inst.error().message;
    EXPECT_NE(inst.error().message.find("DHCP lease"), std::string::npos);
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "podvm-web-01234567-cloudinit.iso"));
  // Gone is success, and so is an id that never existed.
  if (inst) {
    EXPECT_TRUE((*p)->deleteInstance(inst->id));
  }
  EXPECT_TRUE((*p)->deleteInstance("00000000-0000-4000-8000-000000000000"));
}

TEST_F(LibvirtTest, ImageAnnotationWithDirectKernelBootIsRefusedAndLeavesNothing) {
  auto p = LibvirtProvider::create(config_);
  ASSERT_TRUE(p) << p.error().message;
  auto req = request("podvm-img-01234567");
  req.spec.image = "no-such-image";
  auto inst = (*p)->createInstance(req);
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().code, Code::kInvalidArgument);
  EXPECT_NE(inst.error().message.find("no-such-image"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "podvm-img-01234567-cloudinit.iso"));
}

// A pod's image annotation naming another pod VM's root disk: the new VM would boot from a
// copy of that VM's live data. The base image itself (the backing file of every overlay) stays
// usable.
TEST_F(LibvirtTest, ImageAnnotationCannotNameARunningDomainsDisk) {
  virConnectPtr conn = virConnectOpen("test:///default");
  ASSERT_NE(conn, nullptr);
  virStoragePoolPtr pool = virStoragePoolLookupByName(conn, "default-pool");
  ASSERT_NE(pool, nullptr);
  auto makeVolume = [&](const std::string& name) {
    std::string xml = "<volume><name>" + name +
                      "</name><capacity unit='bytes'>1048576</capacity>"
                      "<target><format type='qcow2'/></target></volume>";
    virStorageVolPtr vol = virStorageVolCreateXML(pool, xml.c_str(), 0);
    EXPECT_NE(vol, nullptr) << name;
    char* path = vol ? virStorageVolGetPath(vol) : nullptr;
    std::string out = path ? path : "";
    std::free(path);
    if (vol) virStorageVolFree(vol);
    return out;
  };
  const std::string livePath = makeVolume("podvm-other-12345678-root.qcow2");
  makeVolume("podvm-base.qcow2");
  const std::string domXml =
      "<domain type='test'><name>podvm-other-12345678</name><memory "
      "unit='MiB'>64</memory><os><type>hvm</type></os>"
      "<devices><disk type='file' device='disk'><source file='" +
      livePath + "'/><target dev='vda' bus='virtio'/></disk></devices></domain>";
  virDomainPtr other = virDomainCreateXML(conn, domXml.c_str(), 0);
  ASSERT_NE(other, nullptr);

  auto c = config_;
  c.kernel.clear();
  c.initrd.clear();
  auto p = LibvirtProvider::create(c);
  ASSERT_TRUE(p) << p.error().message;
  auto req = request("podvm-thief-01234567");
  req.spec.image = "podvm-other-12345678-root.qcow2";
  auto inst = (*p)->createInstance(req);
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().code, Code::kPermissionDenied);
  EXPECT_NE(inst.error().message.find("is a disk of the running domain podvm-other-12345678"),
            std::string::npos)
      << inst.error().message;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "podvm-thief-01234567-cloudinit.iso"));
  EXPECT_EQ(virStorageVolLookupByName(pool, "podvm-thief-01234567-root.qcow2"), nullptr);
  virResetLastError();

  // The configured base volume is not a running domain's disk: the check lets it through (the
  // test driver then fails later or succeeds; either way not with PERMISSION_DENIED).
  req.spec.image.clear();
  auto ok = (*p)->createInstance(req);
  if (ok) {
    EXPECT_TRUE((*p)->deleteInstance(ok->id));
  } else {
    EXPECT_NE(ok.error().code, Code::kPermissionDenied) << ok.error().message;
  }
  virDomainDestroy(other);
  virDomainFree(other);
  for (const char* name : {"podvm-other-12345678-root.qcow2", "podvm-base.qcow2"}) {
    if (virStorageVolPtr v = virStorageVolLookupByName(pool, name)) {
      virStorageVolDelete(v, 0);
      virStorageVolFree(v);
    }
  }
  virStoragePoolFree(pool);
  virConnectClose(conn);
}

TEST_F(LibvirtTest, BadConfigurationIsAClearError) {
  auto c = config_;
  c.domainType = "xen";
  auto p = LibvirtProvider::create(c);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("kvm or qemu"), std::string::npos);
  c = config_;
  c.initrd.clear();
  EXPECT_FALSE(LibvirtProvider::create(c));
  c = config_;
  c.uri = "nosuchdriver:///x";
  auto q = LibvirtProvider::create(c);
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code, Code::kUnavailable);
  c = config_;
  c.kernel = (dir_ / "missing").string();
  auto r = LibvirtProvider::create(c);
  ASSERT_TRUE(r);
  auto v = (*r)->verifyConfig();
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message.find("does not exist"), std::string::npos);
}

}  // namespace
}  // namespace pp::providers::libvirt

namespace pp::providers::libvirt {
namespace {

// Flag names, environment variables and defaults as upstream's libvirt provider registers them.
TEST(LibvirtFlags, UpstreamNamesAndDefaults) {
  auto setup = registry().setup("libvirt");
  ASSERT_TRUE(setup) << setup.error().message;
  flags::FlagSet fs("libvirt", flags::mapEnv({}));
  (*setup)->registerFlags(fs);
  const std::pair<const char*, const char*> upstream[] = {
      {"uri", "LIBVIRT_URI"},
      {"pool-name", "LIBVIRT_POOL"},
      {"network-name", "LIBVIRT_NET"},
      {"vol-name", "LIBVIRT_VOL_NAME"},
      {"launch-security", "LIBVIRT_LAUNCH_SECURITY"},
      {"firmware", "LIBVIRT_EFI_FIRMWARE"},
      {"cpu", "LIBVIRT_CPU"},
      {"memory", "LIBVIRT_MEMORY"},
      {"cpuset", "LIBVIRT_CPUSET"},
      {"root-disk-size", "LIBVIRT_ROOT_DISK_SIZE"},
      {"data-dir", ""},
      {"disable-cvm", "DISABLECVM"}};
  for (auto [name, env] : upstream) {
    const flags::Flag* f = fs.lookup(name);
    ASSERT_NE(f, nullptr) << name;
    EXPECT_EQ(f->env(), env) << name;
  }
  EXPECT_EQ(fs.lookup("cpu")->defaultText(), "2");
  EXPECT_EQ(fs.lookup("memory")->defaultText(), "8192");
  // Upstream: non-confidential VMs unless DISABLECVM=false (with -launch-security).
  EXPECT_EQ(fs.lookup("disable-cvm")->defaultText(), "true");
}

}  // namespace
}  // namespace pp::providers::libvirt
