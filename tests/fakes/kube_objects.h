// Kubernetes objects as the API server returns them, for tests that seed the fake API server or
// feed the adaptor's Kubernetes code directly.
#pragma once

#include <string>

#include "k8s/client.h"

namespace pp::fakes {

// A pod in namespace "team" scheduled to `node` with runtime class `rc`, in `phase`, with its
// Ready condition.
inline k8s::Json podOnNode(const std::string& name, const std::string& phase, bool ready,
                           const std::string& node = "node-1",
                           const std::string& rc = "kata-remote") {
  return k8s::Json{{"metadata", {{"name", name}, {"namespace", "team"}}},
                   {"spec", {{"nodeName", node}, {"runtimeClassName", rc}}},
                   {"status",
                    {{"phase", phase},
                     {"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}}}};
}

}  // namespace pp::fakes
