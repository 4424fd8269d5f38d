// agent-protocol-forwarder [flags]: the pod VM's end of the agent connection (see
// src/forwarder/forwarder.h). Exit 1 on any start-up error, so that systemd retries.
#include <signal.h>

#include <cstdio>
#include <string>
#include <vector>

#include "base/flags.h"
#include "base/log.h"
#include "base/memory_footprint.h"
#include "base/signals.h"
#include "build_info.h"
#include "forwarder/forwarder.h"

int main(int argc, char** argv) {
  using namespace pp;
  // One malloc arena: the relay thread and the main thread (which only waits for a signal)
  // share the heap instead of keeping one each (bench/forwarder).
  footprint::tuneMalloc(1);
  forwarder::Options options;
  // Upstream's forwarder has no environment variables; an empty lookup keeps it that way.
  flags::FlagSet fs("agent-protocol-forwarder", flags::mapEnv({}));
  options.registerFlags(fs);
  auto parsed = fs.parse(std::vector<std::string>(argv + 1, argv + argc));
  if (!parsed) {
    std::fprintf(
        stderr,
        "agent-protocol-forwarder: %s\nRun 'agent-protocol-forwarder -help' for the flags.\n",
        parsed.error().message.c_str());
    return 1;
  }
  if (parsed->helpRequested) {
    std::printf("Usage: agent-protocol-forwarder [flags]\n\n%s", fs.helpText().c_str());
    return 0;
  }
  if (options.version || parsed->versionRequested) {
    std::fputs(build::versionText("agent-protocol-forwarder").c_str(), stdout);
    return 0;
  }
  if (!parsed->remaining.empty()) {
    std::fprintf(stderr, "agent-protocol-forwarder: unexpected argument %s\n",
                 parsed->remaining[0].c_str());
    return 1;
  }
  if (std::string bad = log::environmentError(); !bad.empty()) {
    std::fprintf(stderr, "%s: %s\n", "agent-protocol-forwarder", bad.c_str());
    return 1;
  }

  signals::StopSignals stopSignals;
  // A relay writes to sockets whose peer may be gone: an error, not a reason to die.
  ::signal(SIGPIPE, SIG_IGN);

  log::info("forwarder", "agent-protocol-forwarder {} (commit {}) starting", build::kVersion,
            build::kCommit);
  for (const auto& line : fs.dump()) log::info("forwarder", "  {}", line);
  forwarder::Daemon daemon(options);
  if (auto st = daemon.start(); !st) {
    log::error("forwarder", "{}", st.error().message);
    return 1;
  }
  // Start-up (flags, apf.json, certificates, the pod network) is done: its pages go back.
  footprint::releaseStartupMemory();
  log::info("forwarder", "received {}, stopping (send it again to exit at once)",
            stopSignals.wait());
  stopSignals.exitOnNext();
  daemon.stop();
  return 0;
}
