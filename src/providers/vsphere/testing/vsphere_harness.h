// For the vsphere tests: a fresh simulator (vcsim_process.h) and providers configured against it
// (the template /DC0/vm/podvm-template, standalone host DC0_H0, datastore LocalDS_0).
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "providers/vsphere/testing/vcsim_process.h"
#include "providers/vsphere/vsphere_provider.h"

namespace pp::providers::vsphere::testing {

struct VsphereHarness {
  VsphereHarness() {
    auto st = sim.start();
    EXPECT_TRUE(st) << st.error().message;
  }

  VsphereConfig baseConfig() const {
    VsphereConfig c;
    c.userName = kVcsimUser;
    c.password = kVcsimPassword;
    c.vcenterUrl = sim.url();
    c.thumbprint = sim.thumbprint();
    c.datacenter = "DC0";
    c.host = "DC0_H0";
    c.datastore = "LocalDS_0";
    c.deployFolder = "peerpods/pods";
    c.taskTimeout = std::chrono::seconds(60);
    c.ipTimeout = std::chrono::seconds(60);
    c.keepalive = std::chrono::nanoseconds(0);
    c.nodeName = "worker-1";
    return c;
  }

  std::unique_ptr<VsphereProvider> make(const VsphereConfig& c) {
    auto p = VsphereProvider::create(c);
    EXPECT_TRUE(p) << p.error().message;
    return p ? std::move(*p) : nullptr;
  }

  VcsimProcess sim;
};

}  // namespace pp::providers::vsphere::testing
