#include "adaptor/pods_readiness.h"

#include <gtest/gtest.h>

namespace pp::adaptor {
namespace {

using k8s::Json;

Json peerPodOnNode(const std::string& name, const std::string& phase, bool ready,
                   const std::string& node = "node-1", const std::string& rc = "kata-remote") {
  return Json{{"metadata", {{"name", name}, {"namespace", "team"}}},
              {"spec", {{"nodeName", node}, {"runtimeClassName", rc}}},
              {"status",
               {{"phase", phase},
                {"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}}}};
}

TEST(PodsReadinessEvaluate, OnlyRunningPeerPodsCount) {
  Json list{{"items",
             {peerPodOnNode("ready", "Running", true), peerPodOnNode("pending", "Pending", false),
              peerPodOnNode("runc", "Running", false, "node-1", ""),
              peerPodOnNode("done", "Succeeded", false)}}};
  EXPECT_EQ(PodsReadiness::evaluate(list, "kata-remote", "node-1"), "");
  list["items"].push_back(peerPodOnNode("slow", "Running", false));
  EXPECT_EQ(PodsReadiness::evaluate(list, "kata-remote", "node-1"),
            "waiting for 1 running kata-remote pods on node node-1 to be Ready: team/slow");
  Json terminating = peerPodOnNode("leaving", "Running", false);
  terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  list["items"] = Json::array({terminating});
  EXPECT_EQ(PodsReadiness::evaluate(list, "kata-remote", "node-1"), "");
}

}  // namespace
}  // namespace pp::adaptor
