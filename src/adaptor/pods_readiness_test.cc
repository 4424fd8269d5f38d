#include "adaptor/pods_readiness.h"

#include <gtest/gtest.h>

#include "kube_objects.h"

namespace pp::adaptor {
namespace {

using k8s::Json;

TEST(PodsReadinessEvaluate, OnlyRunningPeerPodsCount) {
  Json list{
      {"items",
       {fakes::podOnNode("ready", "Running", true), fakes::podOnNode("pending", "Pending", false),
        fakes::podOnNode("runc", "Running", false, "node-1", ""),
        fakes::podOnNode("done", "Succeeded", false)}}};
  EXPECT_EQ(PodsReadiness::evaluate(list, "kata-remote", "node-1"), "");
  list["items"].push_back(fakes::podOnNode("slow", "Running", false));
  EXPECT_EQ(PodsReadiness::evaluate(list, "kata-remote", "node-1"),
            "waiting for 1 running kata-remote pods on node node-1 to be Ready: team/slow");
  Json terminating = fakes::podOnNode("leaving", "Running", false);
  terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  list["items"] = Json::array({terminating});
  EXPECT_EQ(PodsReadiness::evaluate(list, "kata-remote", "node-1"), "");
}

}  // namespace
}  // namespace pp::adaptor
