// cloud-api-adaptor <provider> [flags] | help | version
// The Kata remote hypervisor: creates a pod VM per sandbox through a cloud provider.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "adaptor/config.h"
#include "adaptor/daemon.h"
#include "base/flags.h"
#include "base/log.h"
#include "base/memory_footprint.h"
#include "base/signals.h"
#include "build_info.h"
#include "providers/plugin_loader.h"
#include "providers/registry.h"

namespace {

using namespace pp;

void usage(FILE* out) {
  std::string names;
  for (const auto& n : providers::registry().names()) names += "  " + n + "\n";
  std::fprintf(out,
               "Usage: cloud-api-adaptor <provider> [flags]\n"
               "       cloud-api-adaptor help | version\n\n"
               "Providers:\n%s\n"
               "Run 'cloud-api-adaptor <provider> -help' for the flags of a provider.\n",
               names.empty() ? "  (none built in)\n" : names.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  // Two malloc arenas instead of 8 per core: the I/O thread and the provider workers mostly
  // wait, and every arena keeps its own free pages (bench/sandboxes).
  footprint::tuneMalloc(2);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    usage(stderr);
    return 1;
  }
  const std::string& cmd = args[0];
  if (cmd == "help" || cmd == "-h" || cmd == "-help" || cmd == "--help") {
    usage(stdout);
    return 0;
  }
  if (cmd == "version" || cmd == "-version" || cmd == "--version") {
    std::fputs(build::versionText("cloud-api-adaptor").c_str(), stdout);
    return 0;
  }
  if (cmd[0] == '-') {
    std::fprintf(stderr, "cloud-api-adaptor: the provider name must come first, got flag %s\n\n",
                 cmd.c_str());
    usage(stderr);
    return 1;
  }
  // An external plugin (ENABLE_CLOUD_PROVIDER_EXTERNAL_PLUGIN=true ...) overrides a built-in
  // provider.
  auto setup = providers::lookupProvider(cmd);
  if (!setup) {
    std::fprintf(stderr, "cloud-api-adaptor: %s\n\n", setup.error().message.c_str());
    usage(stderr);
    return 1;
  }

  adaptor::AdaptorConfig config;
  flags::FlagSet fs("cloud-api-adaptor " + cmd);
  config.registerFlags(fs);
  (*setup)->registerFlags(fs);
  auto parsed = fs.parse(std::vector<std::string>(args.begin() + 1, args.end()));
  if (!parsed) {
    std::fprintf(stderr,
                 "cloud-api-adaptor %s: %s\nRun 'cloud-api-adaptor %s -help' for the flags.\n",
                 cmd.c_str(), parsed.error().message.c_str(), cmd.c_str());
    return 1;
  }
  if (parsed->helpRequested) {
    std::printf(
        "Usage: cloud-api-adaptor %s [flags]\n\nFlags (flag > environment variable > default):\n%s",
        cmd.c_str(), fs.helpText().c_str());
    return 0;
  }
  if (parsed->versionRequested) {
    std::fputs(build::versionText("cloud-api-adaptor").c_str(), stdout);
    return 0;
  }
  if (!parsed->remaining.empty()) {
    std::fprintf(stderr, "cloud-api-adaptor %s: unexpected argument %s\n", cmd.c_str(),
                 parsed->remaining[0].c_str());
    return 1;
  }
  if (std::string bad = log::environmentError(); !bad.empty()) {
    std::fprintf(stderr, "%s: %s\n", "cloud-api-adaptor", bad.c_str());
    return 1;
  }

  if (const auto* f = fs.lookup("probe-port")) config.probeRequested = f->source() != "default";
  if (const char* k = std::getenv("KUBERNETES_SERVICE_HOST"); k && *k) config.probeRequested = true;
  config.providerName = cmd;

  signals::StopSignals stopSignals;
  log::info("adaptor", "cloud-api-adaptor {} (commit {}, kata {}) starting with provider {}",
            build::kVersion, build::kCommit, build::kKataVersion, cmd);
  for (const auto& line : fs.dump()) log::info("adaptor", "  {}", line);
  auto provider = (*setup)->build();
  if (!provider) {
    log::error("adaptor", "provider {}: {}", cmd, provider.error().message);
    return 1;
  }
  adaptor::Daemon daemon(std::move(config), std::move(*provider));
  if (auto st = daemon.start(); !st) {
    log::error("adaptor", "{}", st.error().message);
    return 1;
  }

  // Start-up (flags, provider set-up, TLS material, restored sandboxes) is done: its pages go
  // back.
  footprint::releaseStartupMemory();
  log::info("adaptor", "received {}, stopping gracefully (send it again to exit at once)",
            stopSignals.wait());
  stopSignals.exitOnNext();
  daemon.stop();
  return 0;
}
