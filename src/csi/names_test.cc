#include "csi/names.h"

#include <gtest/gtest.h>

#include "csi/direct_volume.h"

namespace pp::csi {
namespace {

TEST(CsiNames, NormalizeVolumeId) {
  EXPECT_EQ(normalizeVolumeId("vol-0a1b2c"), "vol-0a1b2c");
  EXPECT_EQ(normalizeVolumeId("/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/"
                              "disks/pvc-123"),
            "pvc-123");
  // Azure file share IDs: rg#account#share###ns, IBM's "a#b".
  EXPECT_EQ(normalizeVolumeId("rg#acct#share###default"), "rg.acct.share.default");
  EXPECT_EQ(normalizeVolumeId("r134-x#y"), "r134-x.y");
  EXPECT_EQ(normalizeVolumeId("projects/p/zones/z/disks/pvc-9/"), "pvc-9");
  EXPECT_EQ(normalizeVolumeId(""), ".");
}

TEST(CsiNames, VmIds) {
  std::string azure =
      "/subscriptions/0000/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/podvm-a";
  std::string scaleSet =
      "/subscriptions/0000/resourceGroups/rg1/providers/microsoft.compute/"
      "virtualMachineScaleSets/ss/virtualMachines/3";
  EXPECT_TRUE(isAzureVmResourceId(azure));
  EXPECT_TRUE(isAzureVmResourceId(scaleSet));  // case-insensitive
  EXPECT_EQ(nodeIdForVm(azure), "podvm-a");
  EXPECT_EQ(nodeIdForVm(scaleSet), "3");
  EXPECT_FALSE(isAzureVmResourceId("i-0123456789abcdef0"));
  EXPECT_FALSE(isAzureVmResourceId(azure + "/extra"));
  EXPECT_FALSE(
      isAzureVmResourceId("/subscriptions/0000/resourceGroups/rg1/providers/"
                          "Microsoft.Compute/disks/d"));
  EXPECT_EQ(nodeIdForVm("i-0123456789abcdef0"), "i-0123456789abcdef0");
  EXPECT_EQ(nodeIdForVm("gce://p/z/vm"), "gce://p/z/vm");
  EXPECT_EQ(normalizeVmId(azure), "podvm-a");
  EXPECT_EQ(normalizeVmId("i-1"), "i-1");
}

TEST(CsiNames, TargetPath) {
  auto p = parseTargetPath(
      "/var/lib/kubelet/pods/69576836-28c2-447e-a726-fdf8866a0622/volumes/kubernetes.io~csi/"
      "pvc-e9d7/mount");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->podUid, "69576836-28c2-447e-a726-fdf8866a0622");
  EXPECT_EQ(p->volumeName, "pvc-e9d7");
  auto q = parseTargetPath("/var/data/kubelet/pods/u1/volumes/kubernetes.io~csi/pv-2/mount");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->podUid, "u1");
  EXPECT_EQ(q->volumeName, "pv-2");
  EXPECT_FALSE(parseTargetPath("/var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/pv-2"));
  EXPECT_FALSE(parseTargetPath("/mnt/x"));
  EXPECT_FALSE(parseTargetPath(""));
  EXPECT_FALSE(parseTargetPath("/pods//volumes/kubernetes.io~csi/pv/mount"));
}

TEST(CsiNames, DirectVolumeLayout) {
  DirectVolumes d("/run/kata-containers/shared/direct-volumes");
  // base64url, padded (Go's base64.URLEncoding), of the path.
  EXPECT_EQ(d.dirOf("/var/lib/kubelet"),
            "/run/kata-containers/shared/direct-volumes/L3Zhci9saWIva3ViZWxldA==");
  std::string root = ::testing::TempDir() + "/csi-dv";
  DirectVolumes t(root);
  ASSERT_TRUE(t.add("/x/?>?"));
  std::string dir = t.dirOf("/x/?>?");
  EXPECT_EQ(dir, root + "/L3gvPz4_");
  FILE* f = std::fopen((dir + "/mountInfo.json").c_str(), "r");
  ASSERT_NE(f, nullptr);
  char buf[128] = {};
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  EXPECT_EQ(std::string(buf, n), kDefaultMountInfo);
  ASSERT_TRUE(t.remove("/x/?>?"));
  EXPECT_EQ(std::fopen((dir + "/mountInfo.json").c_str(), "r"), nullptr);
}

}  // namespace
}  // namespace pp::csi
