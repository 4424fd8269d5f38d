// For the gcp tests: the fake Google endpoints (fake_gcp.h) with a throwaway service-account
// key, and GcpProviders set up against them (no real sleeping; the waits are kept).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <vector>

#include "providers/gcp/fake_gcp.h"
#include "providers/gcp/gcp_provider.h"

namespace pp::providers::gcp::testing {

inline constexpr char kProject[] = "proj-1";
inline constexpr char kZone[] = "us-central1-a";

inline const TestKey& key() {
  static TestKey k = makeTestKey();
  return k;
}

struct GcpHarness {
  GcpHarness() : fake(kProject, kZone, key().publicPem) {}

  GcpConfig baseConfig() {
    GcpConfig c;
    c.credentials = key().json(fake.tokenUri());
    c.projectId = kProject;
    c.zone = kZone;
    c.imageName = "podvm-image";
    c.machineType = "e2-medium";
    c.network = "default";
    c.diskType = "pd-standard";
    c.disableCvm = true;
    c.computeEndpoint = fake.computeEndpoint();
    c.resourceManagerEndpoint = fake.crmEndpoint();
    c.mutatingCallsPerSecond = 0;
    return c;
  }

  std::unique_ptr<GcpProvider> make(const GcpConfig& c) {
    GcpDependencies d;
    d.env = flags::mapEnv({{"NODE_NAME", "Worker-1"}});
    d.sleep = [this](std::chrono::milliseconds ms) { sleeps.push_back(ms); };
    auto p = GcpProvider::create(c, d);
    EXPECT_TRUE(p) << p.error().message;
    return p ? std::move(*p) : nullptr;
  }

  FakeGcp fake;
  std::vector<std::chrono::milliseconds> sleeps;
};

}  // namespace pp::providers::gcp::testing
