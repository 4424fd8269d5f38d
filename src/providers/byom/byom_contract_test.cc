// The byom provider against the provider contract (providers/testing/provider_contract.h):
// five pool VMs, each a real sshd in a network namespace (testing/sshd_pool.h), the pool state
// on the fake API server. Skipped where sshd cannot run (not root, no openssh-server).
#include <gtest/gtest.h>

#include <filesystem>

#include "providers/byom/testing/byom_harness.h"
#include "providers/testing/provider_contract.h"

namespace pp::providers::byom {

// Named (not in an anonymous namespace): ctest shows it in the test names.
struct ByomContractEnv {
  // Listing answers from the pool's allocations (each carries its sandbox id).
  static constexpr bool kListsInstances = true;

  ByomContractEnv() {
    unavailable = testing::SshdPool::unavailable();
    if (!unavailable.empty()) return;
    EXPECT_EQ(h.start(5), "");
  }
  std::string skipReason() { return unavailable; }

  std::unique_ptr<Provider> makeProvider() { return h.make(); }
  // An instance exists while its VM is allocated.
  bool exists(const std::string& id) { return h.stored().findByIp(id) != nullptr; }
  // What a pod VM holds: its allocation, and user data not followed by the reboot trigger
  // (the VM would still run the pod).
  std::vector<std::string> leftovers() {
    std::vector<std::string> out;
    for (const auto& [id, a] : h.stored().allocated) out.push_back("allocation " + id);
    for (size_t vm = 0; vm < h.pool.ips().size(); ++vm)
      if (h.pool.hasCidataFile(vm, "user-data") && !h.pool.hasCidataFile(vm, "reboot"))
        out.push_back("user data on " + h.pool.ip(vm) + " without a reboot trigger");
    return out;
  }
  // The VMs' user-data path is a directory: the SFTP write fails after the allocation.
  void failCreatesAfterTheInstanceExists() {
    for (size_t vm = 0; vm < h.pool.ips().size(); ++vm) {
      const std::string path = h.pool.mediaDir(vm) + "/cidata/user-data";
      std::filesystem::remove(path);
      std::filesystem::create_directories(path);
    }
  }
  std::vector<std::string> secrets() {
    const std::string key = h.pool.privateKeyText();
    auto body = key.find('\n') + 1;
    return {key.substr(body, 60)};
  }

  std::string unavailable;
  testing::ByomHarness h;
};

}  // namespace pp::providers::byom

namespace pp::providers::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(ByomContract, ProviderContract,
                               ::pp::providers::byom::ByomContractEnv);
}
