// provision-files end to end on a temporary root: whitelist, malicious documents, initdata,
// retries until the data appears, and the timeout.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "base/encoding.h"
#include "cloudinit/cloud_config.h"
#include "cloudinit/initdata.h"
#include "userdata/initdata.h"
#include "userdata/test_util.h"
#include "userdata/userdata.h"

namespace pp::userdata {
namespace {

using namespace testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kInitdataToml =
    "algorithm = \"sha256\"\nversion = \"0.1.0\"\n\n[data]\n"
    "\"aa.toml\" = '''\n[token_configs.kbs]\nurl = \"http://kbs\"\n'''\n"
    "\"policy.rego\" = \"package agent_policy\"\n";

Config testConfig(const TempRoot& root) {
  Config c;
  c.root = root.str();
  c.hypervisorVendor = "";
  c.azureUrl = c.awsUrl = c.gcpUrl = c.alibabaUrl = "http://127.0.0.1:1";
  c.retryDelay = 50ms;
  c.attempts = 3;
  c.fetchTimeout = 10s;
  c.requestTimeout = 2000ms;
  return c;
}

std::string adaptorUserData() {
  return cloudinit::renderCloudConfig({
      {"/run/peerpod/apf.json", R"({"pod-name":"nginx","pod-namespace":"default"})"},
      {"/run/peerpod/auth.json", R"({"auths":{}})"},
      {"/run/peerpod/initdata", cloudinit::encodeInitdata(kInitdataToml)},
      {"/run/peerpod/scratch-space.marker", ""},
  });
}

TEST(ProvisionTest, NoCloudFileWritesTheWhitelistAndInitdata) {
  TempRoot root;
  writeText(root / "media/cidata/user-data", adaptorUserData());
  ASSERT_TRUE(provisionFiles(testConfig(root)));
  EXPECT_EQ(readText(root / "run/peerpod/apf.json"),
            R"({"pod-name":"nginx","pod-namespace":"default"})");
  EXPECT_EQ(readText(root / "run/peerpod/auth.json"), R"({"auths":{}})");
  EXPECT_EQ(readText(root / "run/peerpod/scratch-space.marker"), "");
  EXPECT_EQ(readText(root / "run/peerpod/aa.toml"), "[token_configs.kbs]\nurl = \"http://kbs\"\n");
  EXPECT_EQ(readText(root / "run/peerpod/policy.rego"), "package agent_policy");
  writeText(root / "check/initdata.toml", kInitdataToml);
  EXPECT_EQ(readText(root / "run/peerpod/initdata.digest"),
            pythonDigest("sha256", root / "check/initdata.toml"));
  // The registry credentials are for root only; everything else 0644, as upstream.
  for (const auto& f : listFiles(root / "run")) {
    EXPECT_EQ(fileMode(root / "run" / f), f == "peerpod/auth.json" ? 0600u : 0644u) << f;
  }
}

TEST(ProvisionTest, MaliciousPathsAreRefusedAndNothingIsWrittenOutsideTheWhitelist) {
  TempRoot root;
  fs::create_directories(root / "etc");
  const std::string doc = cloudinit::renderCloudConfig({
      {"/etc/passwd", "root::0:0::/:/bin/sh"},
      {"/run/peerpod/../../etc/shadow", "x"},
      {"/run/peerpod/./apf.json", "x"},
      {"/run/peerpod//auth.json", "x"},
      {"run/peerpod/apf.json", "x"},
      {"/run/peerpod/kata-agent.toml", "x"},
      {"/run/peerpod/initdata.digest", "forged"},
      {"/run/peerpod/policy.rego", "forged"},
      {"/run/peerpod/aa.toml", "[token_configs.kbs]\nurl = \"http://attacker\"\n"},
      {"/run/peerpod/cdh.toml", "[kbc]\nurl = \"http://attacker\"\n"},
      {"/run/peerpod/apf.json\n", "x"},
      {"/run/peerpod/apf.json", "{}"},
  });
  writeText(root / "media/cidata/user-data", doc);
  ASSERT_TRUE(provisionFiles(testConfig(root)));
  EXPECT_EQ(listFiles(root.path()),
            (std::set<std::string>{"media/cidata/user-data", "run/peerpod/apf.json",
                                   "run/peerpod/aa.toml", "run/peerpod/initdata.digest"}));
  EXPECT_EQ(readText(root / "run/peerpod/apf.json"), "{}");
  EXPECT_NE(readText(root / "run/peerpod/initdata.digest"), "forged");
  // Attestation configuration comes from initdata only: the default's empty aa.toml.
  EXPECT_EQ(readText(root / "run/peerpod/aa.toml"), "");
}

TEST(ProvisionTest, SymlinksInThePathFailAndWriteNothingOutside) {
  TempRoot root;
  fs::create_directories(root / "outside");
  fs::create_directories(root / "run");
  fs::create_directory_symlink(root / "outside", root / "run/peerpod");
  writeText(root / "media/cidata/user-data", adaptorUserData());
  auto st = provisionFiles(testConfig(root));
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("symbolic link"), std::string::npos) << st.error().message;
  EXPECT_TRUE(fs::is_empty(root / "outside"));
}

TEST(ProvisionTest, MalformedAndOversizedDocumentsFailAfterRetries) {
  struct Case {
    std::string doc;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"write_files: [\n", "not valid YAML"},
      {"#cloud-config\nruncmd: [reboot]\n", "unexpected key \"runcmd\""},
      {"write_files:\n- path: /run/peerpod/apf.json\n  owner: root\n",
       "unexpected write_files field"},
      {"write_files:\n- path: /run/peerpod/apf.json\n  content: [1]\n", "content is not a string"},
      {"", "not a YAML mapping"},
      {std::string(kMaxUserDataBytes + 1, '#'), "larger than"},
  };
  for (const auto& c : cases) {
    TempRoot root;
    writeText(root / "media/cidata/user-data", c.doc);
    auto st = provisionFiles(testConfig(root));
    ASSERT_FALSE(st) << c.expect;
    EXPECT_NE(st.error().message.find(c.expect), std::string::npos) << st.error().message;
    EXPECT_NE(st.error().message.find("after 3 attempts"), std::string::npos) << st.error().message;
    EXPECT_FALSE(fs::exists(root / "run")) << c.expect;
  }
  // Too many entries, even through aliases.
  TempRoot root;
  std::string doc = "write_files:\n- &f {path: /run/peerpod/apf.json, content: x}\n";
  for (size_t i = 0; i < kMaxWriteFiles; ++i) doc += "- *f\n";
  writeText(root / "media/cidata/user-data", doc);
  auto st = provisionFiles(testConfig(root));
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("more than 64"), std::string::npos) << st.error().message;
}

TEST(ProvisionTest, BadInitdataFails) {
  TempRoot root;
  writeText(root / "media/cidata/user-data",
            cloudinit::renderCloudConfig(
                {{"/run/peerpod/apf.json", "{}"}, {"/run/peerpod/initdata", "bm90IGd6aXA="}}));
  auto st = provisionFiles(testConfig(root));
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("initdata"), std::string::npos) << st.error().message;
  EXPECT_FALSE(fs::exists(root / "run/peerpod/initdata.digest"));
}

TEST(ProvisionTest, RetriesUntilTheFileIsValid) {
  TempRoot root;
  writeText(root / "media/cidata/user-data", "write_files: [\n");  // half written
  std::thread fix([&] {
    std::this_thread::sleep_for(300ms);
    writeText(root / "media/cidata/user-data.new", adaptorUserData());
    fs::rename(root / "media/cidata/user-data.new", root / "media/cidata/user-data");
  });
  Config c = testConfig(root);
  c.attempts = 100;
  auto st = provisionFiles(c);
  fix.join();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_TRUE(fs::exists(root / "run/peerpod/apf.json"));
}

TEST(ProvisionTest, RetriesUntilTheMetadataServiceHasTheData) {
  std::atomic<int> gets{0};
  FakeMetadata imds([&](const net::ServerRequest& r) {
    if (r.path == "/latest/api/token") return net::ServerResponse{200, {}, "token"};
    if (++gets < 3) return net::ServerResponse{404, {}, ""};
    return net::ServerResponse{200, {}, adaptorUserData()};
  });
  TempRoot root;
  writeText(root / "sys/class/dmi/id/sys_vendor", "Amazon EC2\n");
  Config c = testConfig(root);
  c.awsUrl = imds.url();
  c.attempts = 10;
  ASSERT_TRUE(provisionFiles(c));
  EXPECT_EQ(gets.load(), 3);
  EXPECT_EQ(readText(root / "run/peerpod/auth.json"), R"({"auths":{}})");
}

TEST(ProvisionTest, TimeoutExpires) {
  FakeMetadata imds([](const net::ServerRequest&) { return net::ServerResponse{404, {}, ""}; });
  TempRoot root;
  Config c = testConfig(root);
  c.hypervisorVendor = "Microsoft Hv";
  c.azureUrl = imds.url();
  c.attempts = 1000;
  c.retryDelay = 200ms;
  c.fetchTimeout = 1s;
  const auto start = Clock::now();
  auto st = provisionFiles(c);
  const auto took = Clock::now() - start;
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Code::kDeadlineExceeded);
  EXPECT_NE(st.error().message.find("within the fetch timeout (-t 1 s"), std::string::npos)
      << st.error().message;
  EXPECT_NE(st.error().message.find("HTTP 404"), std::string::npos) << st.error().message;
  EXPECT_LT(took, 1500ms);
  EXPECT_GT(imds.requests().size(), 2u);
  EXPECT_FALSE(fs::exists(root / "run"));
}

TEST(ProvisionTest, NoSourceProcessesInitdataOnly) {
  TempRoot root;
  ASSERT_TRUE(provisionFiles(testConfig(root)));
  EXPECT_EQ(listFiles(root.path()),
            (std::set<std::string>{"run/peerpod/aa.toml", "run/peerpod/initdata.digest"}));
  writeText(root / "check/default.toml", kDefaultInitdataToml);
  EXPECT_EQ(readText(root / "run/peerpod/initdata.digest"),
            pythonDigest("sha256", root / "check/default.toml"));
}

TEST(ProvisionTest, EnvironmentHooks) {
  Config c;
  ASSERT_TRUE(c.applyEnvironment(flags::mapEnv({{"PEERPODS_USERDATA_ROOT", "/tmp/r"},
                                                {"PEERPODS_USERDATA_AWS_URL", "http://127.0.0.1:9"},
                                                {"PEERPODS_USERDATA_HYPERVISOR", ""},
                                                {"PEERPODS_USERDATA_RETRY_DELAY", "250ms"},
                                                {"PEERPODS_USERDATA_ATTEMPTS", "4"}})));
  EXPECT_EQ(c.hostPath("/run/peerpod/apf.json"), "/tmp/r/run/peerpod/apf.json");
  EXPECT_EQ(c.awsUrl, "http://127.0.0.1:9");
  EXPECT_EQ(c.azureUrl, "http://169.254.169.254");
  EXPECT_EQ(c.hypervisorVendor, std::optional<std::string>(""));
  EXPECT_EQ(c.retryDelay, 250ms);
  EXPECT_EQ(c.attempts, 4);
  Config d;
  EXPECT_EQ(d.hostPath("/run/peerpod"), "/run/peerpod");
  EXPECT_FALSE(d.hypervisorVendor);
  EXPECT_FALSE(d.applyEnvironment(flags::mapEnv({{"PEERPODS_USERDATA_ATTEMPTS", "0"}})));
  EXPECT_FALSE(d.applyEnvironment(flags::mapEnv({{"PEERPODS_USERDATA_RETRY_DELAY", "soon"}})));
}

}  // namespace
}  // namespace pp::userdata
