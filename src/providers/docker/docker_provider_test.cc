// The docker provider against a real dockerd. The daemon runs in a network namespace made by
// the test, with its bridge on 198.18.201.0/24 and no iptables changes, and its state in a
// temporary directory; everything is removed at the end. The pod VM image is a busybox rootfs
// imported into that daemon. Skipped (with a message) when not root or dockerd is missing.
#include "providers/docker/docker_provider.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "providers/docker/dockerd_sandbox.h"
#include "providers/docker/engine_client.h"

namespace pp::providers::docker {
namespace {

using namespace std::chrono_literals;

class DockerdFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = testing::DockerdSandbox::unavailable(); !why.empty()) GTEST_SKIP() << why;
    ASSERT_EQ(dockerd_.start(), "");
    config_ = dockerd_.config();
  }

  testing::DockerdSandbox dockerd_;
  DockerConfig config_;
};

TEST_F(DockerdFixture, CreateInspectDeleteWithUserDataAndLabels) {
  auto provider = DockerProvider::create(config_);
  ASSERT_TRUE(provider) << provider.error().message;
  ASSERT_TRUE((*provider)->verifyConfig());
  CreateRequest req;
  req.podName = "web";
  req.podNamespace = "default";
  req.sandboxId = "abcdef0123";
  req.instanceName = "podvm-web-abcdef01";
  req.userData = "#cloud-config\nwrite_files: []\n";
  auto inst = (*provider)->createInstance(req);
  ASSERT_TRUE(inst) << inst.error().message;
  ASSERT_EQ(inst->ips.size(), 1u);
  EXPECT_EQ(inst->ips[0].rfind("198.18.201.", 0), 0u) << inst->ips[0];
  EXPECT_EQ(inst->name, req.instanceName);

  // The user data is where process-user-data looks, with the content we gave.
  auto engine = EngineClient::create({config_.dockerHost, "1.41"});
  auto info = engine->call("GET", "/containers/" + inst->id + "/json");
  ASSERT_TRUE(info);
  bool mounted = false;
  for (const auto& m : info->body["Mounts"]) {
    if (m.value("Destination", "") == "/media/cidata/user-data") {
      std::ifstream in(m.value("Source", ""));
      std::string content((std::istreambuf_iterator<char>(in)), {});
      EXPECT_EQ(content, req.userData);
      mounted = true;
    }
  }
  EXPECT_TRUE(mounted);
  // Not privileged: Docker's default capabilities plus the two the pod VM image needs.
  const auto& hc = info->body["HostConfig"];
  EXPECT_FALSE(hc.value("Privileged", true));
  EXPECT_EQ(hc["CapAdd"], nlohmann::json({"NET_ADMIN", "SYS_ADMIN"}));
  EXPECT_EQ(hc["SecurityOpt"], nlohmann::json({"apparmor=unconfined", "no-new-privileges"}));
  EXPECT_EQ(info->body["Config"]["Labels"].value(kTagSandbox, ""), "abcdef0123");
  auto listed = (*provider)->listInstances("abcdef0123");
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, inst->id);

  ASSERT_TRUE((*provider)->deleteInstance(inst->id));
  auto gone = engine->call("GET", "/containers/" + inst->id + "/json");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404);
  EXPECT_FALSE(std::filesystem::exists(config_.dataDir + "/" + req.instanceName));
  // Already gone is success.
  EXPECT_TRUE((*provider)->deleteInstance(inst->id));
}

TEST_F(DockerdFixture, ConcurrentDeletesOfOneContainerAllSucceed) {
  // A restarted adaptor's delete can meet the killed adaptor's, still running in dockerd:
  // dockerd answers 409 "removal ... is already in progress" to the second; it must end in
  // success once the container is gone, not in a failed StopVM.
  auto provider = DockerProvider::create(config_);
  ASSERT_TRUE(provider);
  for (int round = 0; round < 3; ++round) {
    CreateRequest req;
    req.sandboxId = "cafe00" + std::to_string(round);
    req.instanceName = "podvm-race-cafe000" + std::to_string(round);
    auto inst = (*provider)->createInstance(req);
    ASSERT_TRUE(inst) << inst.error().message;
    std::vector<std::thread> deleters;
    std::vector<Status> results(4);
    for (size_t i = 0; i < results.size(); ++i) {
      deleters.emplace_back([&, i] { results[i] = (*provider)->deleteInstance(inst->id); });
    }
    for (auto& t : deleters) t.join();
    for (const auto& r : results) EXPECT_TRUE(r) << r.error().message;
    auto engine = EngineClient::create({config_.dockerHost, "1.41"});
    auto gone = engine->call("GET", "/containers/" + inst->id + "/json");
    ASSERT_TRUE(gone);
    EXPECT_EQ(gone->status, 404);
  }
}

TEST_F(DockerdFixture, EngineErrorsReachTheCaller) {
  auto provider = DockerProvider::create(config_);
  ASSERT_TRUE(provider);
  CreateRequest req;
  req.instanceName = "podvm-bad-00000000";
  req.spec.image = "no-such-image:latest";
  auto inst = (*provider)->createInstance(req);
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().code, Code::kNotFound);
  EXPECT_NE(inst.error().message.find("no-such-image"), std::string::npos) << inst.error().message;
  EXPECT_FALSE(std::filesystem::exists(config_.dataDir + "/" + req.instanceName));
  auto listed = (*provider)->listInstances("");
  ASSERT_TRUE(listed);
  EXPECT_TRUE(listed->empty());
}

TEST(DockerProviderTest, OnlyItsOwnImageWithoutAnAllowList) {
  DockerConfig c;
  c.dockerHost = "unix:///nonexistent/docker.sock";
  c.podvmImage = "registry.example/podvm:v1";
  auto p = DockerProvider::create(c);
  ASSERT_TRUE(p);
  EXPECT_TRUE((*p)->acceptsUnlistedImage("registry.example/podvm:v1"));
  EXPECT_FALSE((*p)->acceptsUnlistedImage("registry.example/podvm:v2"));
  EXPECT_FALSE((*p)->acceptsUnlistedImage("docker.io/library/alpine"));
}

// Regression: a create whose engine call failed without an answer left <data-dir>/<name> (the
// user data, with the VM's TLS key) behind.
TEST(DockerProviderTest, CreateWithoutAnEngineAnswerLeavesNoUserData) {
  auto dir = std::filesystem::temp_directory_path() / ("pp-docker-" + std::to_string(::getpid()));
  DockerConfig c;
  c.dockerHost = "unix://" + (dir / "no-docker.sock").string();
  c.podvmImage = "pp-test-podvm:1";
  c.dataDir = (dir / "data").string();
  auto p = DockerProvider::create(c);
  ASSERT_TRUE(p);
  CreateRequest req;
  req.instanceName = "podvm-lost-01234567";
  req.userData = "#cloud-config\n";
  auto inst = (*p)->createInstance(req);
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().code, Code::kUnavailable) << inst.error().message;
  EXPECT_FALSE(std::filesystem::exists(dir / "data" / req.instanceName));
  std::filesystem::remove_all(dir);
}

TEST(DockerProviderTest, BadHostIsAClearError) {
  DockerConfig c;
  c.dockerHost = "ftp://x";
  auto p = DockerProvider::create(c);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("unix:// or tcp://"), std::string::npos);
  c.dockerHost = "unix:///nonexistent/docker.sock";
  auto q = DockerProvider::create(c);
  ASSERT_TRUE(q);
  auto v = (*q)->verifyConfig();
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, Code::kUnavailable);
  EXPECT_FALSE((*q)->deleteInstance("../etc"));
}

}  // namespace
}  // namespace pp::providers::docker
