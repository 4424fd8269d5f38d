// FileWriter: exact whitelist, clean paths, no symbolic links, atomic 0644 writes.
#include "userdata/file_writer.h"

#include <gtest/gtest.h>

#include "userdata/test_util.h"
#include "userdata/userdata.h"

namespace pp::userdata {
namespace {

using namespace testing;

TEST(FileWriterTest, WhitelistIsExact) {
  for (auto p : kWriteFilesWhitelist) EXPECT_TRUE(FileWriter::isAllowed(p, kWriteFilesWhitelist)) << p;
  for (std::string_view p : {"/run/peerpod/../../etc/passwd", "/run/peerpod//apf.json", "run/peerpod/apf.json",
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

TEST(FileWriterTest, QuotesUntrustedTextForLogs) {
  EXPECT_EQ(quoteForLog("/run/x"), "\"/run/x\"");
  EXPECT_EQ(quoteForLog("a\nb\"\x01"), "\"a\\x0ab\\\"\\x01\"");
  EXPECT_NE(quoteForLog(std::string(300, 'a')).find("...(300 bytes)"), std::string::npos);
}

}  // namespace
}  // namespace pp::userdata
