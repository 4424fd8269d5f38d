// The interop services (interop.Echo, grpc.Health) implemented on our ttrpc server, matching
// tests/interop/go/server/main.go's server: the Go client's checks and the benchmark use them.
#pragma once

#include "ttrpc/server.h"

namespace pp::interop {

void registerPeerServices(ttrpc::Server& server);

}  // namespace pp::interop
