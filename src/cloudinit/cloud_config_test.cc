#include "cloudinit/cloud_config.h"

#include <gtest/gtest.h>

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
