// The byom ("bring your own machine") provider's settings: upstream's flags and variables
// (src/cloud-providers/byom/manager.go) plus two of ours, and the small pieces of start-up
// logic that only read them (pool list parsing, namespace and node name detection).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/flags.h"

namespace pp::providers::byom {

inline constexpr char kDefaultConfigMapName[] = "byom-ip-pool-state";
inline constexpr char kDefaultNamespace[] = "confidential-containers-system";
inline constexpr char kServiceAccountNamespaceFile[] =
    "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

struct ByomConfig {
  // -vm-pool-ips as given; parsed by parsePoolIps() at build time, once -max-range-ips is
  // known (upstream parses an env value before that flag exists, so ranges yield nothing).
  std::string vmPoolIps;
  std::string sshUsername = "peerpod";
  std::string sshPubKeyPath = "/root/.ssh/id_rsa.pub";
  std::string sshPrivKeyPath = "/root/.ssh/id_rsa";
  std::string poolNamespace;  // "" = auto-detect
  std::string poolConfigMapName = kDefaultConfigMapName;
  int64_t maxRangeIps = 100;
  int64_t sshTimeoutSeconds = 30;
  std::string sshHostKeyAllowlistDir;  // "" = trust on first use, remembered in the ConfigMap
  // Ours: an allocation whose PeerPod is gone is released at start after this long.
  std::chrono::nanoseconds orphanGracePeriod = std::chrono::minutes(10);
};

void registerByomFlags(flags::FlagSet& flags, ByomConfig& config);

// The pool: comma-separated addresses and inclusive "a-b" ranges (at most `maxRangeIps`
// addresses taken from one range, as upstream), spaces trimmed, duplicates dropped, in order.
// IPv4 and IPv6. A malformed item or an empty range (a >= b) is INVALID_ARGUMENT naming it.
Result<std::vector<std::string>> parsePoolIps(const std::string& text, int64_t maxRangeIps);

// Upstream's namespace detection: the service-account namespace file, else POD_NAMESPACE,
// else confidential-containers-system.
std::string detectNamespace(const flags::EnvLookup& env,
                            const std::string& namespaceFile = kServiceAccountNamespaceFile);

// Upstream's node name detection: NODE_NAME, /etc/podinfo/nodename, /etc/hostname.
Result<std::string> detectNodeName(const flags::EnvLookup& env,
                                   const std::string& podinfoFile = "/etc/podinfo/nodename",
                                   const std::string& hostnameFile = "/etc/hostname");

}  // namespace pp::providers::byom
