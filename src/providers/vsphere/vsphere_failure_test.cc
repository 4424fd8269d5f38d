// A create broken at each of its steps leaves nothing in vCenter: the simulator behind a proxy
// (testing/fault_proxy.h) that refuses one chosen call, or loses its answer after the simulator
// carried it out.
#include <gtest/gtest.h>

#include "providers/testing/provider_contract.h"
#include "providers/vsphere/testing/fault_proxy.h"
#include "providers/vsphere/testing/vsphere_harness.h"

namespace pp::providers::vsphere {
namespace {

using providers::testing::contractRequest;
using providers::testing::ScriptedFailure;

struct Step {
  const char* pattern;  // substring of "<Method> <body>"
  int status;           // 500: refused with a fault; 503: done, answer lost
  const char* fault;
};

void PrintTo(const Step& s, std::ostream* os) {
  *os << s.pattern << " -> " << s.status;
}

// The simulator behind the proxy; providers configured to go through it.
class ProxiedVsphereTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(h.sim.url().empty());
    auto p = testing::FaultProxy::start(h.sim.url());
    ASSERT_TRUE(p) << p.error().message;
    proxy = std::move(*p);
  }
  VsphereConfig config() {
    auto c = h.baseConfig();
    c.vcenterUrl = proxy->url();
    c.thumbprint = proxy->thumbprint();
    return c;
  }
  testing::VsphereHarness h;
  std::unique_ptr<testing::FaultProxy> proxy;
};

class VsphereFailureTest : public ProxiedVsphereTest, public ::testing::WithParamInterface<Step> {};

TEST_P(VsphereFailureTest, NothingIsLeftBehind) {
  const Step& step = GetParam();
  auto p = h.make(config());
  ASSERT_TRUE(p);
  proxy->failures().add(step.pattern, ScriptedFailure{step.status, step.fault, "injected"});
  auto req = contractRequest(40);
  req.spec.vcpus = 2;  // so that the reconfigure step runs
  auto inst = p->createInstance(req);
  ASSERT_FALSE(inst) << "the create was meant to fail at " << step.pattern;
  if (step.status == 500) {
    EXPECT_NE(inst.error().message.find(step.fault), std::string::npos) << inst.error().message;
  }
  auto left = h.sim.vms();
  EXPECT_TRUE(left.empty()) << "left behind: " << left.front().dump();
  // The same provider creates the next pod normally.
  auto next = p->createInstance(contractRequest(41));
  ASSERT_TRUE(next) << next.error().message;
  ASSERT_TRUE(p->deleteInstance(next->id));
  EXPECT_TRUE(h.sim.vms().empty());
}

INSTANTIATE_TEST_SUITE_P(
    EveryStepOfCreate, VsphereFailureTest,
    ::testing::Values(Step{"FindByInventoryPath", 500, "NoPermission"},
                      Step{"CreateFolder", 500, "NoPermission"},
                      Step{"<pathSet>config.template</pathSet>", 500, "NoPermission"},
                      Step{"CloneVM_Task", 500, "InsufficientResourcesFault"},
                      // vCenter cloned, the answer was lost: the provider finds the clone by name.
                      Step{"CloneVM_Task", 503, "lost"},
                      Step{"ReconfigVM_Task", 500, "InvalidState"},
                      Step{"PowerOnVM_Task", 500, "InsufficientResourcesFault"},
                      Step{"PowerOnVM_Task", 503, "lost"},
                      Step{"<pathSet>config.uuid</pathSet>", 500, "SystemError"},
                      Step{"<pathSet>guest.ipAddress</pathSet>", 500, "SystemError"}),
    [](const ::testing::TestParamInfo<Step>& info) {
      std::string name;
      for (const char* c = info.param.pattern; *c; ++c)
        if (std::isalnum(static_cast<unsigned char>(*c))) name.push_back(*c);
      return name + "_" + std::to_string(info.param.status);
    });

TEST_F(ProxiedVsphereTest, DeleteAfterALostDestroyAnswerStillEndsWithTheVmGone) {
  auto p = h.make(config());
  ASSERT_TRUE(p);
  auto inst = p->createInstance(contractRequest(42));
  ASSERT_TRUE(inst) << inst.error().message;
  proxy->failures().add("Destroy_Task", ScriptedFailure{503, "lost", "lost"});
  auto first = p->deleteInstance(inst->id);
  EXPECT_FALSE(first);  // the caller (StopVM, peerpod-ctrl) retries
  auto again = p->deleteInstance(inst->id);
  EXPECT_TRUE(again) << again.error().message;
  EXPECT_TRUE(h.sim.vms().empty());
}

TEST_F(ProxiedVsphereTest, ReadsAreRetriedAfterALostAnswer) {
  auto p = h.make(config());
  ASSERT_TRUE(p);
  proxy->failures().add("CreateContainerView", ScriptedFailure{503, "lost", "lost"}, 2);
  auto listed = p->listInstances("");
  EXPECT_TRUE(listed) << listed.error().message;
}

}  // namespace
}  // namespace pp::providers::vsphere
