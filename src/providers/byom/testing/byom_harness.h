// For byom's tests: an sshd pool (sshd_pool.h) plus the fake API server that holds the pool
// state, and providers configured for both.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "fake_kube_api.h"
#include "providers/byom/byom_provider.h"
#include "providers/byom/testing/sshd_pool.h"

namespace pp::providers::byom::testing {

inline constexpr char kNamespace[] = "pp-byom-test";

struct ByomHarness {
  // "" when started; else why not (skip when SshdPool::unavailable() says so).
  std::string start(int vms, int sharedAddresses = 0) {
    if (auto e = pool.start(vms, sharedAddresses); !e.empty()) return e;
    api = fakes::FakeKubeApi::start();  // after the pool: its thread is in the namespace
    return api ? "" : "the fake API server did not start";
  }

  ByomConfig config() const {
    ByomConfig c;
    for (const auto& ip : pool.ips()) c.vmPoolIps += (c.vmPoolIps.empty() ? "" : ",") + ip;
    c.sshUsername = "root";
    c.sshPrivKeyPath = pool.privateKeyPath();
    c.sshPubKeyPath = pool.privateKeyPath() + ".pub";
    c.poolNamespace = kNamespace;
    c.sshTimeoutSeconds = 5;
    return c;
  }
  ByomDependencies deps() const {
    ByomDependencies d;
    d.kube = std::make_shared<k8s::Client>(api->clientConfig());
    d.env = flags::mapEnv({{"NODE_NAME", "node-a"}});
    d.namespaceFile = pool.dir() + "/no-namespace-file";
    d.probeTimeout = std::chrono::milliseconds(500);
    return d;
  }
  std::unique_ptr<ByomProvider> make(const ByomConfig& c) {
    auto p = ByomProvider::create(c, deps());
    EXPECT_TRUE(p) << p.error().message;
    return p ? std::move(*p) : nullptr;
  }
  std::unique_ptr<ByomProvider> make() { return make(config()); }

  // The state in the ConfigMap (empty when there is none).
  PoolState stored() const {
    auto cm = api->object("configmaps", kNamespace, kDefaultConfigMapName);
    if (!cm || !(*cm)["data"].contains(kStateKey)) return {};
    auto s = parsePoolState((*cm)["data"][kStateKey].get<std::string>());
    EXPECT_TRUE(s) << s.error().message;
    return s ? *s : PoolState{};
  }
  // Rewrites the stored state (as another adaptor, or time passing, would).
  void storeState(const PoolState& s) {
    auto cm = *api->object("configmaps", kNamespace, kDefaultConfigMapName);
    cm["data"][kStateKey] = toJson(s);
    api->seed("configmaps", cm);
  }
  int vmOf(const std::string& ip) const {
    for (size_t i = 0; i < pool.ips().size(); ++i)
      if (pool.ips()[i] == ip) return static_cast<int>(i);
    ADD_FAILURE() << ip << " is not a pool VM";
    return 0;
  }

  SshdPool pool;
  std::unique_ptr<fakes::FakeKubeApi> api;
};

}  // namespace pp::providers::byom::testing
