// apf.json between us and Go's encoding/json on a struct with upstream's field names, types and
// tags (testdata/go/apfgo), in both directions, and with certificates our CA issues:
//  - Go marshals each case: byte-equal to the checked-in golden file and to our toJson();
//  - our toJson()/toJsonIndented() decodes in Go without unknown keys and re-encodes to the
//    same bytes;
//  - the adaptor's real TLS material survives as PEM crypto/tls accepts.
// Skips when Go was not found at configure time.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "apf/apf_config.h"
#include "apf_test_cases.h"
#include "net/tls.h"

namespace pp::apf {
namespace {

struct GoRun {
  int status = -1;
  std::string out;
};

class ApfGoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string(PP_APF_GO).empty() || ::access(PP_APF_GO, X_OK) != 0) {
      GTEST_SKIP() << "Go was not found when configuring: the golden files stand in";
    }
    dir_ = std::filesystem::temp_directory_path() /
           ("apf-go-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Runs apfgo with `input` on stdin; stdout back, stderr to the test log.
  GoRun apfgo(const std::string& args, const std::string& input = "") {
    std::string in = (dir_ / "in.json").string();
    std::ofstream(in, std::ios::binary | std::ios::trunc) << input;
    std::string cmd = std::string(PP_APF_GO) + " " + args + " < " + in;
    GoRun r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[4096];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
  }

  static std::string golden(const std::string& name) {
    std::ifstream in(std::string(PP_APF_TESTDATA) + "/" + name, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  std::filesystem::path dir_;
};

TEST_F(ApfGoTest, GoMarshalsWhatWeWrite) {
  for (const auto& [name, config] : testcases::all()) {
    GoRun compact = apfgo("marshal " + name);
    ASSERT_EQ(compact.status, 0) << name;
    EXPECT_EQ(compact.out, golden(name + ".json")) << name << ": golden file is stale";
    EXPECT_EQ(config.toJson(), compact.out) << name;
    GoRun indented = apfgo("marshal " + name + " -indent");
    ASSERT_EQ(indented.status, 0) << name;
    EXPECT_EQ(indented.out, golden(name + ".indented.json")) << name << ": golden file is stale";
    EXPECT_EQ(config.toJsonIndented(), indented.out) << name;
    auto parsed = ApfConfig::parse(compact.out);
    ASSERT_TRUE(parsed) << name << ": " << parsed.error().toString();
    if (name != "invalid-utf8") {
      EXPECT_EQ(*parsed, config) << name;
    }
  }
}

TEST_F(ApfGoTest, GoDecodesWhatWeWrite) {
  for (const auto& [name, config] : testcases::all()) {
    if (name == "invalid-utf8") continue;  // not meant to decode to itself
    std::string ours = config.toJson();
    GoRun again = apfgo("reencode", ours);
    ASSERT_EQ(again.status, 0) << name << ": Go refused " << ours;
    EXPECT_EQ(again.out, ours) << name;
    std::string oursIndented = config.toJsonIndented();
    GoRun againIndented = apfgo("reencode -indent", oursIndented);
    ASSERT_EQ(againIndented.status, 0) << name;
    EXPECT_EQ(againIndented.out, oursIndented) << name;
  }
  // A key upstream's struct does not have fails there: the check above would catch a typo.
  EXPECT_NE(apfgo("reencode", R"({"pod-name":"x","tls-server-crt":"y"})").status, 0);
}

TEST_F(ApfGoTest, AdaptorTlsMaterialReachesGoIntact) {
  auto ca = net::CertificateAuthority::create(net::kCaOrganization, "apf-go-test CA");
  ASSERT_TRUE(ca) << ca.error().toString();
  auto server = ca->issueServer("podvm-web-0-0123abcd");
  ASSERT_TRUE(server) << server.error().toString();
  auto client = net::selfSignedClient(net::kClientOrganization);
  ASSERT_TRUE(client) << client.error().toString();

  ApfConfig c = testcases::all().at("tls");
  c.tlsServerKey = server->keyPem;
  c.tlsServerCert = server->certPem;
  c.tlsClientCa = client->certPem;
  for (const std::string& doc : {c.toJson(), c.toJsonIndented()}) {
    GoRun check = apfgo("check-tls", doc);
    ASSERT_EQ(check.status, 0) << doc;
    EXPECT_EQ(check.out, "ok podvm-web-0-0123abcd\n");
    EXPECT_EQ(apfgo("field tls-server-key", doc).out, server->keyPem);
    EXPECT_EQ(apfgo("field tls-server-cert", doc).out, server->certPem);
    EXPECT_EQ(apfgo("field tls-client-ca", doc).out, client->certPem);
    EXPECT_EQ(apfgo("field pod-namespace", doc).out, "team-a");
  }
}

}  // namespace
}  // namespace pp::apf
