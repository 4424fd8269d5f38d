// chaos-shim: single hypervisor calls for scripts/chaos, where peerpodctl only offers whole
// sequences (run = CreateVM + StartVM + ...): the suite needs to repeat StartVM of one sandbox
// after an adaptor restart, as the Kata shim may.
//   chaos-shim --socket PATH create ID      CreateVM (pod name chaos-<ID's first 8>)
//   chaos-shim --socket PATH start ID [S]   StartVM with a deadline of S seconds (default 120)
//   chaos-shim --socket PATH stop ID        StopVM
// Exit 0 on success; otherwise the error (code and message) on stderr and exit 1.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "shim_client.h"

int main(int argc, char** argv) {
  std::string socket = "/run/peerpod/hypervisor.sock";
  int i = 1;
  if (argc > 2 && std::string(argv[1]) == "--socket") {
    socket = argv[2];
    i = 3;
  }
  if (argc - i < 2) {
    std::fprintf(stderr, "usage: chaos-shim [--socket PATH] create|start|stop ID [SECONDS]\n");
    return 2;
  }
  const std::string cmd = argv[i], id = argv[i + 1];
  pp::peerpodctl::ShimClient shim(socket);
  pp::Status st;
  if (cmd == "create") {
    pp::peerpodctl::PodOptions pod;
    pod.podName = "chaos-" + id.substr(0, 8);
    auto r = shim.createVM(id, pod);
    if (!r) st = std::unexpected(r.error());
  } else if (cmd == "start") {
    long secs = argc - i > 2 ? std::strtol(argv[i + 2], nullptr, 10) : 120;
    st = shim.startVM(id, std::chrono::seconds(secs));
  } else if (cmd == "stop") {
    st = shim.stopVM(id);
  } else {
    std::fprintf(stderr, "chaos-shim: unknown command %s\n", cmd.c_str());
    return 2;
  }
  if (!st) {
    std::fprintf(stderr, "chaos-shim: %s: %s\n", cmd.c_str(), st.error().toString().c_str());
    return 1;
  }
  return 0;
}
