// FileWriter: exact whitelist, clean paths, no symbolic links, atomic 0644 writes.
#include "userdata/file_writer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "userdata/document.h"
#include "userdata/test_util.h"
#include "userdata/userdata.h"

namespace pp::userdata {
namespace {

using namespace testing;

TEST(FileWriterTest, WhitelistIsExact) {
  for (auto p : kWriteFilesWhitelist)
    EXPECT_TRUE(FileWriter::isAllowed(p, kWriteFilesWhitelist)) << p;
  for (std::string_view p :
       {"/run/peerpod/../../etc/passwd", "/run/peerpod//apf.json", "run/peerpod/apf.json",
        "/run/peerpod/apf.json/", "/run/peerpod/./apf.json", "/etc/passwd",
        "/run/peerpod/policy.rego", "/run/peerpod/initdata.digest", "/RUN/peerpod/apf.json",
        "/run/peerpod/apf.json\n", ""}) {
    EXPECT_FALSE(FileWriter::isAllowed(p, kWriteFilesWhitelist)) << p;
  }
}

TEST(FileWriterTest, WritesAtomicallyWithMode0644AndCreatesParents) {
  TempRoot root;
  FileWriter w(root.str());
  ASSERT_TRUE(w.write("/run/peerpod/apf.json", "{}"));
  EXPECT_EQ(readText(root / "run/peerpod/apf.json"), "{}");
  EXPECT_EQ(fileMode(root / "run/peerpod/apf.json"), 0644u);
  EXPECT_TRUE(fs::is_directory(root / "run/peerpod"));
  // Overwrite; no temporary file is left behind.
  ASSERT_TRUE(w.write("/run/peerpod/apf.json", "{\"a\":1}"));
  EXPECT_EQ(readText(root / "run/peerpod/apf.json"), "{\"a\":1}");
  EXPECT_EQ(listFiles(root.path()), std::set<std::string>{"run/peerpod/apf.json"});
}

TEST(FileWriterTest, WritesTheGivenModeWhateverTheUmask) {
  TempRoot root;
  FileWriter w(root.str());
  const mode_t old = ::umask(0);
  auto st = w.write("/run/peerpod/auth.json", "{\"auths\":{}}", 0600);
  ::umask(old);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(fileMode(root / "run/peerpod/auth.json"), 0600u);
  EXPECT_EQ(fileMode(root / "run/peerpod"), 0755u);
  // Overwriting a 0644 file with mode 0600 tightens it.
  ASSERT_TRUE(w.write("/run/peerpod/apf.json", "{}"));
  ASSERT_TRUE(w.write("/run/peerpod/apf.json", "{}", 0600));
  EXPECT_EQ(fileMode(root / "run/peerpod/apf.json"), 0600u);
}

// The check-then-write race: another process swaps /run/peerpod for a link to elsewhere while
// files are written. The writer holds the directory it checked (a dir fd), so nothing ever
// lands outside; with path-based checks followed by a path-based write, a write went through
// the link within 150 ms in 9 runs out of 10.
TEST(FileWriterTest, ADirectorySwappedForALinkDuringWritesIsNeverFollowed) {
  TempRoot root;
  fs::create_directories(root / "run/peerpod");
  fs::create_directories(root / "outside");
  FileWriter w(root.str());
  std::atomic<bool> stop{false};
  std::thread swapper([&] {
    const auto dir = (root / "run/peerpod").string();
    const auto saved = (root / "run/peerpod.saved").string();
    const auto outside = (root / "outside").string();
    while (!stop) {
      ::rename(dir.c_str(), saved.c_str());
      ::symlink(outside.c_str(), dir.c_str());
      ::usleep(20);
      ::unlink(dir.c_str());
      ::rename(saved.c_str(), dir.c_str());
      ::usleep(20);
    }
  });
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  int written = 0;
  for (int i = 0; i < 20000 && std::chrono::steady_clock::now() < until; ++i) {
    if (w.write("/run/peerpod/apf.json", "{}")) ++written;
    if (!fs::is_empty(root / "outside")) break;
  }
  stop = true;
  swapper.join();
  EXPECT_TRUE(fs::is_empty(root / "outside")) << "a write went through the link";
  EXPECT_GT(written, 0);
}

TEST(FileWriterTest, RemovesFilesAndLinksButNeverThroughALink) {
  TempRoot root;
  FileWriter w(root.str());
  EXPECT_TRUE(w.remove("/run/peerpod/cdh.toml"));  // nothing there: fine
  ASSERT_TRUE(w.write("/run/peerpod/cdh.toml", "x"));
  ASSERT_TRUE(w.remove("/run/peerpod/cdh.toml"));
  EXPECT_FALSE(w.exists("/run/peerpod/cdh.toml"));
  // A link is removed itself, not its target.
  writeText(root / "outside/target", "precious");
  fs::create_symlink(root / "outside/target", root / "run/peerpod/cdh.toml");
  ASSERT_TRUE(w.remove("/run/peerpod/cdh.toml"));
  EXPECT_FALSE(fs::is_symlink(root / "run/peerpod/cdh.toml"));
  EXPECT_EQ(readText(root / "outside/target"), "precious");
  // A linked parent is refused.
  TempRoot root2;
  writeText(root2 / "outside/cdh.toml", "precious");
  fs::create_directories(root2 / "run");
  fs::create_directory_symlink(root2 / "outside", root2 / "run/peerpod");
  FileWriter w2(root2.str());
  auto st = w2.remove("/run/peerpod/cdh.toml");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("is a symbolic link"), std::string::npos) << st.error().message;
  EXPECT_EQ(readText(root2 / "outside/cdh.toml"), "precious");
  EXPECT_FALSE(w.remove("/run/../x"));
}

TEST(FileWriterTest, ReadsOnlyRegularFilesWithoutBlockingOnAFifo) {
  TempRoot root;
  fs::create_directories(root / "run/peerpod");
  ASSERT_EQ(::mkfifo((root / "run/peerpod/initdata").c_str(), 0600), 0);
  FileWriter w(root.str());
  auto r = w.read("/run/peerpod/initdata", 100);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not a regular file"), std::string::npos) << r.error().message;
  auto f = readRegularFile((root / "run/peerpod/initdata").string(), 100);
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("not a regular file"), std::string::npos) << f.error().message;
  writeText(root / "run/peerpod/apf.json", "12345");
  EXPECT_EQ(w.read("/run/peerpod/apf.json", 5).value_or("?"), "12345");
  auto big = w.read("/run/peerpod/apf.json", 4);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, Code::kOutOfRange);
  EXPECT_EQ(w.read("/run/peerpod/none", 4).error().code, Code::kNotFound);
}

TEST(FileWriterTest, RefusesUncleanPaths) {
  TempRoot root;
  FileWriter w(root.str());
  for (std::string_view p : {"/run/peerpod/../x", "run/x", "/run//x", "/run/./x", "/", ""}) {
    auto st = w.write(p, "x");
    ASSERT_FALSE(st) << p;
    EXPECT_NE(st.error().message.find("not a clean absolute path"), std::string::npos);
  }
  EXPECT_TRUE(listFiles(root.path()).empty());
}

TEST(FileWriterTest, RefusesASymlinkedDirectory) {
  TempRoot root;
  fs::create_directories(root / "outside");
  fs::create_directories(root / "run");
  fs::create_directory_symlink(root / "outside", root / "run/peerpod");
  FileWriter w(root.str());
  auto st = w.write("/run/peerpod/apf.json", "{}");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("is a symbolic link"), std::string::npos) << st.error().message;
  EXPECT_TRUE(fs::is_empty(root / "outside"));
}

TEST(FileWriterTest, RefusesASymlinkedFile) {
  TempRoot root;
  writeText(root / "outside/target", "precious");
  fs::create_directories(root / "run/peerpod");
  fs::create_symlink(root / "outside/target", root / "run/peerpod/auth.json");
  FileWriter w(root.str());
  auto st = w.write("/run/peerpod/auth.json", "stolen");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("is a symbolic link"), std::string::npos);
  EXPECT_EQ(readText(root / "outside/target"), "precious");
  EXPECT_TRUE(fs::is_symlink(root / "run/peerpod/auth.json"));
  // Reading through the link is refused as well.
  EXPECT_FALSE(w.read("/run/peerpod/auth.json", 100));
}

TEST(FileWriterTest, RefusesANonDirectoryParentAndANonFileTarget) {
  TempRoot root;
  writeText(root / "run", "not a directory");
  FileWriter w(root.str());
  EXPECT_FALSE(w.write("/run/peerpod/apf.json", "{}"));
  TempRoot root2;
  fs::create_directories(root2 / "run/peerpod/apf.json");
  FileWriter w2(root2.str());
  auto st = w2.write("/run/peerpod/apf.json", "{}");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("not a regular file"), std::string::npos);
}

// provision-files writes auth.json (registry credentials) 0600, everything else 0644.
TEST(FileWriterTest, ProvisionWritesAuthJsonForRootOnly) {
  TempRoot root;
  writeText(
      root / "media/cidata/user-data",
      "#cloud-config\nwrite_files:\n- path: /run/peerpod/auth.json\n  content: '{\"auths\":{}}'\n"
      "- path: /run/peerpod/apf.json\n  content: '{}'\n");
  Config c;
  c.root = root.str();
  c.hypervisorVendor = "";
  c.attempts = 1;
  auto st = provisionFiles(c);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(readText(root / "run/peerpod/auth.json"), "{\"auths\":{}}");
  EXPECT_EQ(fileMode(root / "run/peerpod/auth.json"), 0600u);
  EXPECT_EQ(fileMode(root / "run/peerpod/apf.json"), 0644u);
}

TEST(WritePath, OnlyTheExactWhitelistIsWrittenAndNeverInitdatasFiles) {
  for (std::string_view path : kWriteFilesWhitelist)
    EXPECT_EQ(checkWritePath(path), WritePathVerdict::kWrite) << path;
  for (std::string_view path :
       {"/run/peerpod/aa.toml", "/run/peerpod/cdh.toml", "/run/peerpod/policy.rego"})
    EXPECT_EQ(checkWritePath(path), WritePathVerdict::kRefusedInitdataFile) << path;
  for (std::string_view path :
       {"/run/peerpod/apf.json/", "/run/peerpod//apf.json", "/etc/passwd", "run/peerpod/apf.json",
        "/run/peerpod/../peerpod/apf.json", "", "/run/peerpod/aa.toml.bak", "/run/peerpodaa.toml"})
    EXPECT_EQ(checkWritePath(path), WritePathVerdict::kRefusedNotWhitelisted) << path;
}

TEST(WritePath, UserDataDocumentsAreBounded) {
  auto files = parseUserData("write_files:\n- {path: /run/peerpod/apf.json, content: '{}'}\n");
  ASSERT_TRUE(files) << files.error().toString();
  ASSERT_EQ(files->size(), 1u);
  EXPECT_EQ((*files)[0].path, "/run/peerpod/apf.json");
  std::string many = "write_files:\n- &f {path: /run/peerpod/apf.json, content: x}\n";
  for (size_t i = 0; i < kMaxWriteFiles; ++i) many += "- *f\n";
  EXPECT_FALSE(parseUserData(many));
}

}  // namespace
}  // namespace pp::userdata
