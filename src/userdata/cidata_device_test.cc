// Root only: a cidata file system on a real loop device, found by libblkid, mounted read-only
// by provision-files, read and unmounted (an ISO 9660 seed: skipped when the kernel has no
// iso9660); and a cidata file system of another type (ext4) refused without being mounted.
#include "userdata/cidata_device.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "cloudinit/cloud_config.h"
#include "cloudinit/nocloud_iso.h"
#include "userdata/test_util.h"
#include "userdata/userdata.h"

namespace pp::userdata {
namespace {

using namespace testing;

std::string run(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return "";
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  if (::pclose(p) != 0) return "";
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

bool mounted(const std::string& prefix) {
  return readText("/proc/self/mounts").find(prefix) != std::string::npos;
}

class LoopDevice {
 public:
  explicit LoopDevice(const fs::path& image) {
    dev_ = run("losetup --find --show '" + image.string() + "' 2>/dev/null");
  }
  ~LoopDevice() {
    if (!dev_.empty()) std::system(("losetup -d " + dev_ + " 2>/dev/null").c_str());
  }
  const std::string& dev() const { return dev_; }

 private:
  std::string dev_;
};

// A pod VM root whose only block device is the loop device.
void fakeRootWithDevice(const TempRoot& root, const std::string& dev) {
  const std::string name = fs::path(dev).filename().string();
  fs::create_directories(root / ("sys/class/block/" + name));
  fs::create_directories(root / "dev");
  fs::create_symlink(dev, root / ("dev/" + name));
}

Config deviceConfig(const TempRoot& root) {
  Config c;
  c.root = root.str();
  c.hypervisorVendor = "";
  c.fetchTimeout = std::chrono::seconds(10);
  c.attempts = 1;
  return c;
}

TEST(CidataDeviceTest, ProvisionFilesMountsReadsAndUnmountsTheDevice) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (loop devices, mount)";
  if (readText("/proc/filesystems").find("\tiso9660") == std::string::npos)
    GTEST_SKIP() << "no iso9660 in this kernel";
  TempRoot work;
  auto iso = cloudinit::buildNoCloudIso(
      cloudinit::renderCloudConfig({{"/run/peerpod/apf.json", "{\"from\":\"device\"}"}}),
      "instance-id: loop\n");
  ASSERT_TRUE(iso) << iso.error().message;
  writeText(work / "seed.iso", *iso);
  LoopDevice loop(work / "seed.iso");
  if (loop.dev().empty()) GTEST_SKIP() << "no free loop device";
  TempRoot root;
  fakeRootWithDevice(root, loop.dev());
  auto dev = findCidataDevice(root.str());
  ASSERT_TRUE(dev);
  EXPECT_EQ(dev->fsType, "iso9660");

  auto st = provisionFiles(deviceConfig(root));
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(readText(root / "run/peerpod/apf.json"), "{\"from\":\"device\"}");
  EXPECT_FALSE(mounted(root.str())) << "the cidata device is still mounted";
  // The temporary mount point is gone: only peerpod is left under run/.
  std::set<std::string> runEntries;
  for (const auto& e : fs::directory_iterator(root / "run"))
    runEntries.insert(e.path().filename().string());
  EXPECT_EQ(runEntries, std::set<std::string>{"peerpod"});
}

// A cidata label on a file system that seeds are not made of is not mounted: an ext4 image
// (with, say, a setuid binary or a crafted journal) would reach far more kernel code.
TEST(CidataDeviceTest, ACidataLabelOnExt4IsNotMounted) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (loop devices)";
  TempRoot work;
  writeText(work / "seed/user-data",
            cloudinit::renderCloudConfig({{"/run/peerpod/apf.json", "{}"}}));
  writeText(work / "seed/meta-data", "instance-id: loop\n");
  const fs::path image = work / "seed.img";
  ASSERT_EQ(
      std::system(("truncate -s 4M '" + image.string() + "' && mkfs.ext4 -q -F -L cidata -d '" +
                   (work / "seed").string() + "' '" + image.string() + "' >/dev/null 2>&1")
                      .c_str()),
      0)
      << "mkfs.ext4 failed";
  LoopDevice loop(image);
  if (loop.dev().empty()) GTEST_SKIP() << "no free loop device";
  TempRoot root;
  fakeRootWithDevice(root, loop.dev());
  auto st = provisionFiles(deviceConfig(root));
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("must be iso9660 or vfat"), std::string::npos)
      << st.error().message;
  EXPECT_FALSE(mounted(root.str()));
  EXPECT_FALSE(fs::exists(root / "run/peerpod/apf.json"));
}

TEST(CidataDeviceTest, RefusesUnexpectedFileSystems) {
  TempRoot root;
  for (const char* type : {"btrfs", "ext4", "ext2", "udf", "squashfs"}) {
    auto r = readUserDataFromDevice({"/dev/null", type}, root.str(), 1024);
    ASSERT_FALSE(r) << type;
    EXPECT_NE(r.error().message.find("must be iso9660 or vfat"), std::string::npos)
        << r.error().message;
  }
  EXPECT_FALSE(fs::exists(root / "run")) << "nothing is created for a refused device";
}

}  // namespace
}  // namespace pp::userdata
