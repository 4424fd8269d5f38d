// The libvirt provider against libvirt's test driver (test:///default): no daemon, real API.
#include "providers/libvirt/libvirt_provider.h"

#include <gtest/gtest.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace pp::providers::libvirt {
namespace {

class LibvirtTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("lv-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "vmlinuz") << "kernel";
    std::ofstream(dir_ / "initrd.gz") << "initrd";
    config_.uri = "test:///default";
    config_.poolName = "default-pool";
    config_.networkName = "default";
    config_.volName = "podvm-base.qcow2";
    config_.cpu = 2;
    config_.memoryMiB = 512;
    config_.dataDir = dir_.string();
    config_.domainType = "qemu";
    config_.kernel = (dir_ / "vmlinuz").string();
    config_.initrd = (dir_ / "initrd.gz").string();
    config_.cmdline = "console=ttyS0";
    config_.ipTimeout = std::chrono::seconds(2);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

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
    EXPECT_TRUE(std::filesystem::exists(dir_ / "podvm-web-01234567-cloudinit.iso"));
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

TEST_F(LibvirtTest, CloudInitIsoIsPrivate) {
  auto p = LibvirtProvider::create(config_);
  ASSERT_TRUE(p) << p.error().message;
  // The ISO exists from the start of the create until the domain is deleted; whatever the
  // test driver's lease answer, look at it while the create runs: the mode is set at write.
  auto inst = (*p)->createInstance(request("podvm-iso-01234567"));
  if (inst) {
    auto perms = std::filesystem::status(dir_ / "podvm-iso-01234567-cloudinit.iso").permissions();
    EXPECT_EQ(perms & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    EXPECT_TRUE((*p)->deleteInstance(inst->id));
  } else {
    GTEST_SKIP() << "the test driver gave no lease: " << inst.error().message;
  }
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
