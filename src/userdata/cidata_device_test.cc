// Root only: a cidata file system on a real loop device (ext4 here: this host's kernel has no
// iso9660 or vfat), found by libblkid, mounted read-only by provision-files, read and unmounted.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "cloudinit/cloud_config.h"
#include "userdata/cidata_device.h"
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

bool mounted(const std::string& prefix) { return readText("/proc/self/mounts").find(prefix) != std::string::npos; }

class LoopDevice {
 public:
  explicit LoopDevice(const fs::path& image) { dev_ = run("losetup --find --show '" + image.string() + "' 2>/dev/null"); }
  ~LoopDevice() {
    if (!dev_.empty()) std::system(("losetup -d " + dev_ + " 2>/dev/null").c_str());
  }
  const std::string& dev() const { return dev_; }

 private:
  std::string dev_;
};

TEST(CidataDeviceTest, ProvisionFilesMountsReadsAndUnmountsTheDevice) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (loop devices, mount)";
  if (readText("/proc/filesystems").find("\text4") == std::string::npos) GTEST_SKIP() << "no ext4 in this kernel";
  TempRoot work;
  writeText(work / "seed/user-data", cloudinit::renderCloudConfig({{"/run/peerpod/apf.json", "{\"from\":\"device\"}"}}));
  writeText(work / "seed/meta-data", "instance-id: loop\n");
  const fs::path image = work / "seed.img";
  ASSERT_EQ(std::system(("truncate -s 4M '" + image.string() + "' && mkfs.ext4 -q -F -L cidata -d '" +
                         (work / "seed").string() + "' '" + image.string() + "' >/dev/null 2>&1")
                            .c_str()),
            0)
      << "mkfs.ext4 failed";
  LoopDevice loop(image);
  if (loop.dev().empty()) GTEST_SKIP() << "no free loop device";
  const std::string name = fs::path(loop.dev()).filename().string();

  // A pod VM root whose only block device is the loop device.
  TempRoot root;
  fs::create_directories(root / ("sys/class/block/" + name));
  fs::create_directories(root / "dev");
  fs::create_symlink(loop.dev(), root / ("dev/" + name));
  auto dev = findCidataDevice(root.str());
  ASSERT_TRUE(dev);
  EXPECT_EQ(dev->fsType, "ext4");

  Config c;
  c.root = root.str();
  c.hypervisorVendor = "";
  c.fetchTimeout = std::chrono::seconds(10);
  auto st = provisionFiles(c);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(readText(root / "run/peerpod/apf.json"), "{\"from\":\"device\"}");
  EXPECT_FALSE(mounted(root.str())) << "the cidata device is still mounted";
  // The temporary mount point is gone: only peerpod is left under run/.
  std::set<std::string> runEntries;
  for (const auto& e : fs::directory_iterator(root / "run")) runEntries.insert(e.path().filename().string());
  EXPECT_EQ(runEntries, std::set<std::string>{"peerpod"});
}

TEST(CidataDeviceTest, RefusesUnexpectedFileSystems) {
  TempRoot root;
  auto r = readUserDataFromDevice({"/dev/null", "btrfs"}, root.str(), 1024);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("must be iso9660"), std::string::npos);
}

}  // namespace
}  // namespace pp::userdata
