// The pod VM's secure comms as agent-protocol-forwarder runs it (upstream's ppssh wiring in
// cmd/agent-protocol-forwarder): the SSH server on 2222 with the key broker's inbound and the
// agent's outbound, keys from apf.json (no-Trustee) or from the key broker through the
// confidential data hub's api-server-rest once the VM is attested (Trustee).
#pragma once

#include <chrono>
#include <memory>
#include <stop_token>
#include <string>

#include "securecomms/securecomms.h"

namespace pp::securecomms {

inline constexpr char kApiServerRestUrl[] = "http://127.0.0.1:8006";

struct PodSideOptions {
  // -secure-comms on the forwarder's command line: the keys come from the key broker. Otherwise
  // (apf.json's "sc") they come from apf.json.
  bool keysFromKbs = false;
  std::string ppPrivateKey;  // apf.json sc-pp-prv
  std::string wnPublicKey;   // apf.json sc-wn-pub
  // Tags from the flags and from apf.json (comma lists), added to upstream's fixed ones:
  // inbound BOTH_PHASES:KBS:8080, outbound KUBERNETES_PHASE:KATAAGENT:<forwarderPort>.
  std::string flagInbounds, flagOutbounds, apfInbounds, apfOutbounds;
  uint16_t forwarderPort = 15150;
  uint16_t kbsPort = 8080;
  uint16_t sshPort = kSshPort;
  std::string sshListenHost = "0.0.0.0";
  // The key fetch runs inside this network namespace (where api-server-rest listens), "" = ours.
  std::string keyFetchNetns = "/run/netns/podns";
  std::string apiServerRest = kApiServerRestUrl;  // http://host:port, numeric IPv4 only
  // Upstream retries forever (1 s doubling to 30 s); we give up after this and the forwarder
  // exits, so that the failure shows instead of a VM that never becomes ready.
  std::chrono::milliseconds keyFetchTimeout{std::chrono::minutes(15)};
  std::chrono::milliseconds keyFetchDelayMax{std::chrono::seconds(30)};
  std::string singletonPath = kSingletonPath;
  std::string unprovenWnPublicKeyPath = kUnprovenWnPublicKeyPath;
  int ephemeralKeyBits = 3072;
  LinkTiming timing;
};

// Creates the singleton marker (a second start in the same boot is FAILED_PRECONDITION, as
// upstream's fatal), parses the tags and starts the server.
Result<std::unique_ptr<SshServer>> startPodSide(const PodSideOptions& options);

// GET <base>/cdh/resource/default/<name> (plain HTTP/1.1 over TCP, at most 64 KiB, 10 s):
// the resource's bytes on 200, an error naming the status otherwise.
Result<std::string> fetchCdhResource(const std::string& base, const std::string& name);

}  // namespace pp::securecomms
