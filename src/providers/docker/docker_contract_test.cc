// The docker provider against the provider contract (providers/testing/provider_contract.h), on
// a private dockerd (dockerd_sandbox.h); skipped where dockerd cannot run.
#include <gtest/gtest.h>

#include <filesystem>

#include "providers/docker/docker_provider.h"
#include "providers/docker/dockerd_sandbox.h"
#include "providers/docker/engine_client.h"
#include "providers/tags.h"
#include "providers/testing/provider_contract.h"

namespace pp::providers::docker {

// Named (not in an anonymous namespace): ctest shows it in the test names.
struct DockerContractEnv {
  static constexpr bool kListsInstances = true;

  DockerContractEnv() {
    unavailable = testing::DockerdSandbox::unavailable();
    if (!unavailable.empty()) return;
    EXPECT_EQ(dockerd.start(), "");
    config = dockerd.config();
  }
  std::string skipReason() { return unavailable; }

  std::unique_ptr<Provider> makeProvider() {
    auto p = DockerProvider::create(config);
    EXPECT_TRUE(p) << p.error().message;
    return p ? std::move(*p) : nullptr;
  }
  bool exists(const std::string& id) {
    auto r = engine().call("GET", "/containers/" + id + "/json");
    return r && r->status == 200;
  }
  std::vector<std::string> leftovers() {
    std::vector<std::string> out;
    auto r = engine().call("GET", "/containers/json?all=true");
    if (!r || !r->body.is_array()) return {"cannot list containers"};
    for (const auto& c : r->body) out.push_back("container " + c.value("Id", ""));
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(config.dataDir, ec))
      if (e.path().filename() != "image") out.push_back("file " + e.path().string());
    return out;
  }
  // Containers on the "none" network start without an address: the create fails after the
  // container exists.
  void failCreatesAfterTheInstanceExists() { config.networkName = "none"; }
  std::vector<std::string> secrets() { return {}; }

  EngineClient engine() { return *EngineClient::create({config.dockerHost, config.apiVersion}); }

  std::string unavailable;
  testing::DockerdSandbox dockerd;
  DockerConfig config;
};

}  // namespace pp::providers::docker

namespace pp::providers::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(DockerContract, ProviderContract,
                               ::pp::providers::docker::DockerContractEnv);
}
