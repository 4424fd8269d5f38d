#include "cloudinit/cloud_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "base/encoding.h"

namespace pp::cloudinit {
namespace {

TEST(CloudConfigTest, RoundTripsAnyContent) {
  std::vector<WriteFile> files = {
      {"/run/peerpod/apf.json", R"({"pod-name":"a: b","x":"#notacomment"})"},
      {"/run/peerpod/initdata", "line1\nline2: value\n  indented\n"},
      {"/run/peerpod/scratch-space.marker", ""},
      // Found by fuzz_cloud_config: carriage returns came back as line breaks.
      {"/run/peerpod/x\r\r", "a\r\nb\rc\x01\x1b[0m\x7f\n"},
      {" leading and trailing ", "\ttab\n  indented first line\n"},
      {"/ru\n ", "last line blank\n \n\n"},
  };
  std::string text = renderCloudConfig(files);
  EXPECT_EQ(text.rfind("#cloud-config\n", 0), 0u);
  auto parsed = parseCloudConfig(text);
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ((*parsed)[i].path, files[i].path);
    EXPECT_EQ((*parsed)[i].content, files[i].content);
  }
}

// The other side's parser: whatever reads our user data in the VM (upstream's Go
// process-user-data, cloud-init) is not yaml-cpp. PyYAML, an independent YAML implementation,
// must read the same files from what we render, byte for byte.
TEST(CloudConfigTest, AnIndependentYamlParserReadsTheSameFiles) {
  if (std::system("python3 -c 'import yaml' 2>/dev/null") != 0)
    GTEST_SKIP() << "python3-yaml is not installed";
  const std::vector<WriteFile> files = {
      {"/run/peerpod/apf.json",
       "{\n    \"pod-name\": \"a: b\",\n    \"tls-server-key\": \"-----BEGIN\\nx\"\n}"},
      {"/run/peerpod/initdata", "H4sIAAAAAAAA/0tMSgYAAP//"},
      {"/run/peerpod/scratch-space.marker", ""},
      {"/run/peerpod/x", "a\r\nb\tc\x01 #not a comment\n  indented\n \n\n"},
      {" lead", "caf\xc3\xa9 \xe2\x80\xa8 line separator"},
  };
  const std::string dir = ::testing::TempDir();
  const std::string doc = dir + "/cloud-config-" + std::to_string(::getpid()) + ".yaml";
  const std::string out = doc + ".out";
  {
    std::ofstream f(doc, std::ios::binary);
    f << renderCloudConfig(files);
  }
  // Each path and content as hex, one entry a line.
  const std::string script =
      "import sys, yaml\n"
      "d = yaml.safe_load(open(sys.argv[1], 'rb'))\n"
      "with open(sys.argv[2], 'w') as o:\n"
      "    for e in d['write_files']:\n"
      "        o.write(e['path'].encode().hex() + ' ' + (e.get('content') or '').encode().hex() + "
      "'\\n')\n";
  ASSERT_EQ(std::system(("python3 -c \"" + script + "\" " + doc + " " + out).c_str()), 0);
  std::ifstream in(out);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(lines[i],
              encoding::hexEncode(files[i].path) + " " + encoding::hexEncode(files[i].content))
        << "entry " << i;
  }
  std::remove(doc.c_str());
  std::remove(out.c_str());
}

TEST(CloudConfigTest, StrictParsing) {
  EXPECT_FALSE(parseCloudConfig("just text"));
  EXPECT_FALSE(parseCloudConfig("runcmd: [ls]\n"));
  EXPECT_FALSE(parseCloudConfig("write_files:\n- path: /x\n  owner: root\n"));
  EXPECT_FALSE(parseCloudConfig("write_files:\n- content: x\n"));
  EXPECT_FALSE(parseCloudConfig("write_files: {a: b}\n"));
  EXPECT_FALSE(parseCloudConfig("write_files:\n- path: [1]\n"));
  EXPECT_FALSE(parseCloudConfig("write_files: [\n"));
  EXPECT_FALSE(parseCloudConfig("write_files:\n- path: /x\n  path: /y\n"));
  EXPECT_FALSE(parseCloudConfig("write_files: []\nwrite_files: []\n"));
  auto nullContent = parseCloudConfig("write_files:\n- path: /x\n  content:\n");
  ASSERT_TRUE(nullContent) << nullContent.error().message;
  EXPECT_EQ((*nullContent)[0].content, "");
}

TEST(CloudConfigTest, LimitsApplyToTheExpandedDocument) {
  // One 1 KiB scalar named 100 times through aliases: small text, large expansion.
  std::string doc = "write_files:\n- &f {path: /x, content: " + std::string(1024, 'a') + "}\n";
  for (int i = 0; i < 99; ++i) doc += "- *f\n";
  EXPECT_TRUE(parseCloudConfig(doc));
  CloudConfigLimits small;
  small.maxContentBytes = 50 * 1024;
  auto r = parseCloudConfig(doc, small);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("contents above"), std::string::npos);
  small = CloudConfigLimits{};
  small.maxFiles = 10;
  r = parseCloudConfig(doc, small);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("more than 10"), std::string::npos);
}

}  // namespace
}  // namespace pp::cloudinit
