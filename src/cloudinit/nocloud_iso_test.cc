#include "cloudinit/nocloud_iso.h"

#include <gtest/gtest.h>

namespace pp::cloudinit {
namespace {

TEST(NoCloudIsoTest, LabelAndFilesArePresent) {
  std::string userData =
      "#cloud-config\nwrite_files:\n- path: /run/peerpod/apf.json\n  content: '{}'\n";
  auto iso = buildNoCloudIso(userData, "instance-id: podvm-x\nlocal-hostname: podvm-x\n");
  ASSERT_TRUE(iso) << iso.error().message;
  ASSERT_GT(iso->size(), 0x8028u + 32);
  EXPECT_EQ(iso->size() % 2048, 0u);
  // Primary volume descriptor at sector 16: type 1, "CD001", volume id "cidata" (space padded).
  EXPECT_EQ((*iso)[0x8000], '\x01');
  EXPECT_EQ(iso->substr(0x8001, 5), "CD001");
  EXPECT_EQ(iso->substr(0x8028, 7), "CIDATA ")
      << "ISO 9660 volume ids are d-characters (upper case)";
  // Joliet supplementary descriptor keeps the lower-case label that blkid and the init use.
  EXPECT_NE(iso->find(std::string("\0c\0i\0d\0a\0t\0a", 12)), std::string::npos);
  EXPECT_NE(iso->find(userData), std::string::npos);
  EXPECT_NE(iso->find("instance-id: podvm-x"), std::string::npos);
}

}  // namespace
}  // namespace pp::cloudinit
