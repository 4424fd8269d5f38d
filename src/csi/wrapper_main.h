// The main of the three CSI wrapper binaries: flags (upstream's --endpoint, --target-endpoint,
// --namespace, --vm-id-information-endpoint, glog's --v), the gRPC server on the wrapper's
// unix socket (an existing socket file is removed first), the PeerpodVolume informer, and a
// graceful stop on SIGTERM/SIGINT.
#pragma once

namespace pp::csi {

enum class WrapperKind { kController, kNode, kPodVm };

int wrapperMain(WrapperKind kind, int argc, char** argv);

}  // namespace pp::csi
