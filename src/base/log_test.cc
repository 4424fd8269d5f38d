#include "base/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "base/flags.h"
#include "base/log_flag.h"

namespace pp::log {
namespace {

// Lines written while it lives, with the format set for the test and restored after.
class CapturedLog {
 public:
  explicit CapturedLog(Format f) : saved_(format()) {
    setFormat(f);
    setSinkForTest([this](std::string_view line) { lines.emplace_back(line); });
  }
  ~CapturedLog() {
    setSinkForTest({});
    setFormat(saved_);
  }
  std::vector<std::string> lines;

 private:
  Format saved_;
};

constexpr char kSandboxId[] = "27e11ff35fd1284b45d3be30b42f435a9a597c322bb66e965785c003338d792a";

TEST(LogTest, EscapeControl) {
  EXPECT_EQ(escapeControl("plain text\twith tab"), "plain text\twith tab");
  EXPECT_EQ(escapeControl("a\nb\r\x1b[31m\x7f"), "a\\x0ab\\x0d\\x1b[31m\\x7f");
  EXPECT_EQ(escapeControl(std::string_view("x\0y", 3)), "x\\x00y");
}

TEST(LogTest, Quote) {
  EXPECT_EQ(quote("nginx"), "\"nginx\"");
  EXPECT_EQ(quote("a\"b\\c\n\xff"), "\"a\\\"b\\\\c\\x0a\\xff\"");
  EXPECT_EQ(quote(std::string(300, 'a')), "\"" + std::string(200, 'a') + "\"...(300 bytes)");
}

// What a pod name with a newline does to the log: one line, with the newline escaped.
TEST(LogTest, AMessageIsAlwaysOneLine) {
  const Format savedFormat = format();  // whatever LOG_FORMAT the test runs with
  setFormat(Format::kText);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(fds[1], STDERR_FILENO);
  error("sandbox", "pod {} failed", "evil\n2026/12/02 00:00:00 [adaptor/cloud] all good");
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  setFormat(savedFormat);
  ::close(fds[1]);
  char buf[4096];
  const ssize_t n = ::read(fds[0], buf, sizeof buf);
  ::close(fds[0]);
  ASSERT_GT(n, 0);
  const std::string line(buf, static_cast<size_t>(n));
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  EXPECT_NE(line.find("evil\\x0a2026"), std::string::npos) << line;
}

// The regular expressions of upstream's e2e suite (test/e2e/assessment_helpers.go:
// getCaaPodLogForPod, getPodvmName, IsPulledWithNydusSnapshotter, timeExtractor) on our text
// layout.
TEST(LogTest, TextLayoutMatchesUpstreamE2eRegexes) {
  CapturedLog log(Format::kText);
  info("sandbox", Sandbox(kSandboxId), "create a sandbox {} for pod {} in namespace {}", kSandboxId,
       "job-pi-fgr78", "coco-pp-e2e-test-9a6697df");
  info("proxy", Sandbox(kSandboxId),
       "        mount_point:/run/kata-containers/{}/rootfs source:{} fstype:overlay "
       "driver:image_guest_pull",
       "c0ffee", "quay.io/a/b:1");
  ASSERT_EQ(log.lines.size(), 2u);
  const std::string& line = log.lines[0];
  const std::string dateMatcher = "[0-9]{4}/[0-9]{2}/[0-9]{2}";
  const std::string timeMatcher = "([0-1]?[0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]";
  EXPECT_TRUE(std::regex_search(line, std::regex(dateMatcher + " " + timeMatcher +
                                                 R"( \[adaptor\/cloud\] create a sandbox )"
                                                 R"([0-9|a-f]* for pod job-pi-fgr78)")))
      << line;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      line, m,
      std::regex("create a sandbox ([a-f0-9]{64}) for pod job-pi-fgr78 in namespace "
                 "coco-pp-e2e-test-9a6697df")))
      << line;
  EXPECT_EQ(m[1], kSandboxId);
  EXPECT_TRUE(std::regex_search(line, std::regex(R"(\b(\d{2}):(\d{2}):(\d{2})\b)")));
  // Go's log.LstdFlags|log.Lmsgprefix: "YYYY/MM/DD HH:MM:SS [prefix] message", nothing after.
  EXPECT_TRUE(std::regex_match(line, std::regex(dateMatcher + " [0-9]{2}:[0-9]{2}:[0-9]{2} "
                                                              R"(\[adaptor/cloud\] create a )"
                                                              R"(sandbox [0-9a-f]{64} for pod )"
                                                              R"(\S+ in namespace \S+\n)")))
      << line;
  std::string mountLine = log.lines[1];
  mountLine.pop_back();  // the e2e suite splits the log on '\n'
  EXPECT_TRUE(std::regex_search(
      mountLine,
      std::regex(".*mount_point:/run/kata-containers.*c0ffee.*driver:image_guest_pull.*$")))
      << mountLine;
  EXPECT_NE(mountLine.find(" [adaptor/proxy]         mount_point:"), std::string::npos)
      << mountLine;
}

TEST(LogTest, TextLayoutLevelsAndPrefixes) {
  CapturedLog log(Format::kText);
  info("aws", "Choosing {} from annotation as the AWS AMI for the PodVM image", "ami-1");
  warn("kube", "event queue full");
  error("libvirt", Sandbox("sb1"), "domain gone");
  info("peerpod-ctrl", "unknown to upstream");
  ASSERT_EQ(log.lines.size(), 4u);
  EXPECT_TRUE(log.lines[0].ends_with(
      " [adaptor/cloud/aws] Choosing ami-1 from annotation as the AWS AMI for the PodVM image\n"))
      << log.lines[0];
  EXPECT_TRUE(log.lines[1].ends_with(" [util/k8sops] WARN: event queue full\n")) << log.lines[1];
  // The sandbox id the message does not name goes at the end.
  EXPECT_TRUE(log.lines[2].ends_with(" [adaptor/cloud/libvirt] ERROR: domain gone sandbox=sb1\n"))
      << log.lines[2];
  EXPECT_TRUE(log.lines[3].ends_with(" [peerpod-ctrl] unknown to upstream\n")) << log.lines[3];
}

TEST(LogTest, JsonLinesParseWithTheirFields) {
  CapturedLog log(Format::kJson);
  info("sandbox", Sandbox(kSandboxId), "create a sandbox {} for pod {} in namespace {}", kSandboxId,
       "p", "ns");
  warn("sandbox", "{}: pod network teardown: {}", kSandboxId, "gone");
  error("proxy", "pod {} \"quoted\" \\ tab\t \x01 \xff \xc3\xa9 end", "evil\n{\"level\":\"info\"}");
  info("k8s", "no sandbox here");
  ASSERT_EQ(log.lines.size(), 4u);
  for (const auto& line : log.lines) {
    ASSERT_TRUE(line.ends_with("}\n")) << line;
    EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
    ASSERT_TRUE(nlohmann::json::accept(line)) << line;
  }
  auto first = nlohmann::json::parse(log.lines[0]);
  EXPECT_EQ(first["level"], "info");
  EXPECT_EQ(first["component"], "adaptor/cloud");
  EXPECT_EQ(first["sandbox_id"], kSandboxId);
  EXPECT_EQ(first["msg"],
            std::string("create a sandbox ") + kSandboxId + " for pod p in namespace ns");
  EXPECT_TRUE(std::regex_match(first["time"].get<std::string>(),
                               std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)")))
      << first["time"];
  // "<id>: ..." messages carry their sandbox without a change at the call site.
  auto second = nlohmann::json::parse(log.lines[1]);
  EXPECT_EQ(second["level"], "warn");
  EXPECT_EQ(second["sandbox_id"], kSandboxId);
  auto third = nlohmann::json::parse(log.lines[2]);
  EXPECT_EQ(third["level"], "error");
  EXPECT_EQ(third["component"], "adaptor/proxy");
  EXPECT_EQ(third["msg"],
            "pod evil\n{\"level\":\"info\"} \"quoted\" \\ tab\t \x01 \ufffd \u00e9 end");
  EXPECT_FALSE(third.contains("sandbox_id"));
  auto fourth = nlohmann::json::parse(log.lines[3]);
  EXPECT_EQ(fourth["component"], "k8s");
  EXPECT_FALSE(fourth.contains("sandbox_id"));
}

TEST(LogTest, LogFormatFlag) {
  const Format saved = format();
  flags::FlagSet fs("test", flags::mapEnv({{"LOG_FORMAT", "json"}}));
  addLogFormatFlag(fs);
  EXPECT_EQ(format(), Format::kJson);
  ASSERT_TRUE(fs.parse({"-log-format", "text"}));
  EXPECT_EQ(format(), Format::kText);
  ASSERT_TRUE(fs.parse({"-log-format=json"}));
  EXPECT_EQ(format(), Format::kJson);
  auto bad = fs.parse({"-log-format", "yaml"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("log-format"), std::string::npos) << bad.error().message;
  EXPECT_EQ(format(), Format::kJson);
  Format f;
  EXPECT_FALSE(parseFormat("JSON", &f));
  setFormat(saved);
}

}  // namespace
}  // namespace pp::log
