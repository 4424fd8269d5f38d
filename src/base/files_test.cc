#include "base/files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

namespace pp::files {
namespace {

TEST(FilesTest, AtomicWriteReadBackAndMode) {
  auto dir = std::filesystem::temp_directory_path() / ("files-test-" + std::to_string(::getpid()));
  ASSERT_TRUE(makeDirs(dir.string()));
  auto path = (dir / "state.json").string();
  ASSERT_TRUE(writeAtomic(path, "one", 0600));
  ASSERT_TRUE(writeAtomic(path, "two", 0600));
  auto r = readFile(path);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "two");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // No temporary files are left behind.
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) (void)e, ++n;
  EXPECT_EQ(n, 1);
  EXPECT_EQ(readFile(path, 2).error().code, Code::kOutOfRange);
  EXPECT_EQ(readFile((dir / "missing").string()).error().code, Code::kNotFound);
  EXPECT_FALSE(writeAtomic((dir / "no/such/dir/x").string(), "x"));
  ASSERT_TRUE(removeAll(dir.string()));
  EXPECT_TRUE(removeAll(dir.string()));
}

}  // namespace
}  // namespace pp::files
