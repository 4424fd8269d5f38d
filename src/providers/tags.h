// The io.peerpods.* keys every provider puts on what it creates (instance tags, container
// labels), so that orphan sweeps (listInstances) and operators find a pod VM's sandbox, pod and
// node. Defined once here; a cloud whose keys cannot hold dots (GCE labels) maps them itself.
#pragma once

namespace pp::providers {

inline constexpr char kTagSandbox[] = "io.peerpods.sandbox-id";
inline constexpr char kTagPod[] = "io.peerpods.pod-name";
inline constexpr char kTagNamespace[] = "io.peerpods.pod-namespace";
inline constexpr char kTagNode[] = "io.peerpods.node";

}  // namespace pp::providers
