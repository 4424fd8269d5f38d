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
  // Without the fsyncs the replacement is still whole and keeps the mode.
  auto copy = (dir / "apf.json").string();
  ASSERT_TRUE(writeAtomic(copy, "first", 0600, Durability::kReplaceOnly));
  ASSERT_TRUE(writeAtomic(copy, "second", 0600, Durability::kReplaceOnly));
  EXPECT_EQ(readFile(copy).value_or(""), "second");
  struct stat copySt {};
  ASSERT_EQ(::stat(copy.c_str(), &copySt), 0);
  EXPECT_EQ(copySt.st_mode & 0777, 0600u);
  ASSERT_TRUE(removeAll(copy));
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

TEST(FilesTest, RewriteDurablyReusesThePreviousVersionsInode) {
  auto dir =
      std::filesystem::temp_directory_path() / ("files-rewrite-" + std::to_string(::getpid()));
  ASSERT_TRUE(makeDirs(dir.string()));
  const auto path = (dir / "state.json").string();
  const auto scratch = (dir / ".state.json.next").string();
  auto inode = [](const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? st.st_ino : ino_t{0};
  };
  ASSERT_TRUE(rewriteDurably(path, "one", 0600));
  EXPECT_EQ(readFile(path).value_or(""), "one");
  ASSERT_TRUE(rewriteDurably(path, "two", 0600));
  EXPECT_EQ(readFile(path).value_or(""), "two");
  if (inode(scratch) == 0) {
    ASSERT_TRUE(removeAll(dir.string()));
    GTEST_SKIP() << "this file system cannot exchange names (renamed instead)";
  }
  EXPECT_EQ(readFile(scratch).value_or(""), "one");
  const ino_t previous = inode(scratch);
  ASSERT_TRUE(rewriteDurably(path, "three, longer than before", 0600));
  EXPECT_EQ(readFile(path).value_or(""), "three, longer than before");
  EXPECT_EQ(inode(path), previous) << "the scratch file's inode was not reused";
  EXPECT_EQ(readFile(scratch).value_or(""), "two");
  ASSERT_TRUE(rewriteDurably(path, "4", 0600));
  EXPECT_EQ(readFile(path).value_or(""), "4") << "a shorter content leaves no tail behind";
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A directory that does not exist is an error, not a crash.
  EXPECT_FALSE(rewriteDurably((dir / "no/such/dir/x").string(), "x"));
  ASSERT_TRUE(removeAll(dir.string()));
}

}  // namespace
}  // namespace pp::files
