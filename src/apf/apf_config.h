// apf.json: the configuration the cloud-api-adaptor hands to the agent-protocol-forwarder in
// the pod VM's user data (/run/peerpod/apf.json). Either end may be upstream's Go binary, so
// this type is the JSON document Go's encoding/json makes of upstream's forwarder.Config, key
// for key and type for type:
//
//   key                 Go type            omitempty  here
//   pod-network         *tunneler.Config   no         podNetwork (null when absent)
//   pod-namespace       string             no         podNamespace
//   pod-name            string             no         podName
//   tls-server-key      string             yes        tlsServerKey   (PEM text, not base64)
//   tls-server-cert     string             yes        tlsServerCert  (PEM text)
//   tls-client-ca       string             yes        tlsClientCa    (PEM text)
//   tls-min-version     string             yes        tlsMinVersion
//   tls-cipher-suites   []string           yes        tlsCipherSuites
//   sc-pp-prv           []byte             yes        ppPrivateKey   (base64 in JSON)
//   sc-wn-pub           []byte             yes        wnPublicKey    (base64 in JSON)
//   sc-inbounds         string             yes        secureCommsInbounds
//   sc-outbounds        string             yes        secureCommsOutbounds
//   sc                  bool               yes        secureComms
//
// The last three were dropped upstream together with secure comms; they are kept (and omitted
// when empty, so nothing changes for a current upstream forwarder, which ignores unknown keys)
// because releases that still read them are deployed.
//
// "pod-namespace" is the pod's Kubernetes namespace. The network namespace inside the VM is
// not in here: it is the forwarder's own -pod-namespace flag.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apf/paths.h"
#include "base/error.h"
#include "podnetwork/config.h"

namespace pp::apf {

// Where process-user-data puts the file in the VM and where the forwarder reads it by default.
inline constexpr const char* kApfJsonPath = paths::kApfJson;
// A real apf.json is a few kilobytes (three PEMs and the pod's routes); cloud user data is
// capped far below this anyway. The bound keeps a hostile file from making us allocate freely.
inline constexpr size_t kMaxApfJsonBytes = 1u << 20;

struct ApfConfig {
  std::optional<podnetwork::PodNetworkConfig> podNetwork;
  std::string podNamespace;
  std::string podName;
  std::string tlsServerKey;
  std::string tlsServerCert;
  std::string tlsClientCa;
  std::string tlsMinVersion;  // "VersionTLS12" | "VersionTLS13", as upstream's flag spells it
  std::vector<std::string> tlsCipherSuites;  // IANA names
  std::string ppPrivateKey;                  // raw bytes
  std::string wnPublicKey;                   // raw bytes
  std::string secureCommsInbounds;
  std::string secureCommsOutbounds;
  bool secureComms = false;

  // The bytes Go's json.Marshal writes for the same values: keys in the order above, no spaces,
  // HTML-safe escaping (<, >, & as \u003c...), U+2028/U+2029 escaped, invalid UTF-8 as \ufffd.
  // In "pod-network" an empty route or neighbour list is written null, as upstream's adaptor
  // (which appends to nil slices) writes it.
  std::string toJson() const;
  // json.MarshalIndent(v, "", "    "): the layout upstream's adaptor writes apf.json in.
  std::string toJsonIndented() const;

  // Accepts what Go's json.Unmarshal into forwarder.Config accepts, with these exceptions, all
  // stricter: the document must be an object (Go takes a bare null), at most kMaxApfJsonBytes,
  // valid UTF-8 without lone surrogates (Go substitutes U+FFFD), and nothing may follow it.
  // Like Go: unknown keys are ignored; keys match exactly or else case-insensitively (ASCII,
  // plus the two non-ASCII letters Go folds onto 's' and 'k'), also inside "pod-network"; null
  // leaves a field unset; a repeated key takes its last value; []byte fields are base64 (line
  // breaks ignored) or an array of 0..255. A known key with the wrong type is INVALID_ARGUMENT
  // naming the key and the type found.
  static Result<ApfConfig> parse(std::string_view text);
  // NOT_FOUND with the path when the file is missing; parse errors are prefixed with the path.
  static Result<ApfConfig> load(const std::string& path);

  bool operator==(const ApfConfig&) const = default;
};

}  // namespace pp::apf
