#include "base/memory_footprint.h"

#include <gtest/gtest.h>
#include <sys/utsname.h>

#include <cstdio>
#include <string>
#include <vector>

namespace pp::footprint {
namespace {

bool kernelHasPageout() {
  utsname u{};
  int major = 0, minor = 0;
  if (uname(&u) != 0 || std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 5 || (major == 5 && minor >= 4);
}

TEST(MemoryFootprint, ReleasesTheProgramsFilePagesAndKeepsRunning) {
  tuneMalloc(2);
  std::vector<std::string> before(1000, std::string(100, 'x'));
  before.clear();
  size_t kib = releaseStartupMemory();
  if (!kernelHasPageout()) GTEST_SKIP() << "kernel before 5.4: no MADV_PAGEOUT";
  // At least this test program's own text was asked for.
  EXPECT_GT(kib, 0u);
  // The code and the heap still work after the page-out (pages come back on use).
  std::vector<std::string> after(1000, std::string(100, 'y'));
  EXPECT_EQ(after.back(), std::string(100, 'y'));
  EXPECT_GT(releaseStartupMemory(), 0u);
}

}  // namespace
}  // namespace pp::footprint
