// cloud-api-adaptor's common flags and environment variables (upstream-core.md §3.1), with
// upstream's names, defaults and precedence (default < env < flag).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/flags.h"

namespace pp::adaptor {

struct AdaptorConfig {
  std::string socket;
  std::string podsDir;
  std::string pauseImage;
  uint64_t forwarderPort = 15150;
  std::string caCertFile;
  std::string certFile;
  std::string certKey;
  bool tlsSkipVerify = false;
  // Upstream's TLS profile for the adaptor-to-VM link, baked into each new VM's apf.json.
  std::string tlsMinVersion;    // "VersionTLS12" | "VersionTLS13"; "" is 1.2
  std::string tlsCipherSuites;  // comma-separated Go (IANA) names; "" is OpenSSL's default
  std::chrono::nanoseconds proxyTimeout{};
  std::string tunnelType;
  uint64_t vxlanPort = 4789;
  std::string initdata;
  bool cloudConfigVerify = false;
  int64_t peerpodsLimitPerNode = 10;
  bool enableScratchSpace = false;
  bool secureComms = false;
  bool secureCommsNoTrustee = false;
  std::string secureCommsInbounds;
  std::string secureCommsOutbounds;
  std::string secureCommsPpInbounds;
  std::string secureCommsPpOutbounds;
  std::string secureCommsKbs;
  bool disableTls = false;
  std::string hostInterface;
  uint64_t vxlanMinId = 555000;
  bool extNetworkViaPodvm = false;
  std::vector<std::string> podSubnetCidrs;
  // Ours: images a pod's image annotation may name (empty: any, as upstream).
  std::vector<std::string> allowedImages;
  // Ours: worker threads for provider calls; a probe port as upstream reads PROBE_PORT.
  uint64_t workers = 32;
  uint64_t probePort = 8000;
  // Ours: host:port of a /metrics listener for a scraper ("" = none).
  std::string metricsListen;
  // Upstream serves the probe only in Kubernetes; we also serve it when the port is set.
  bool probeRequested = false;
  // The provider name from the command line (PeerPod spec.cloudProvider unless CLOUD_PROVIDER
  // says otherwise).
  std::string providerName;

  void registerFlags(flags::FlagSet& fs);
  // Cross-flag checks (e.g. -tls-skip-verify with a CA), with messages a user can act on.
  Status validate() const;
  // -tls-cipher-suites split at commas, as upstream does before checking the names.
  std::vector<std::string> tlsCipherSuiteList() const;
};

}  // namespace pp::adaptor
