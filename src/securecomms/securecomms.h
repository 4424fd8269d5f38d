// Secure comms: SSH tunnels between the worker node (cloud-api-adaptor, the SSH client) and the
// pod VM (agent-protocol-forwarder, the SSH server on TCP 2222), instead of the mutual-TLS agent
// link (upstream's pkg/securecomms, version "v0.2").
//
// Tunnels are named by tags. An inbound tag makes a local listener (127.0.0.1:PORT, optionally
// inside /run/netns/NETNS); each connection accepted there becomes an SSH channel that names the
// tunnel. An outbound tag accepts channels with that name from the peer and dials HOST:PORT
// (127.0.0.1 by default).
//
// Two phases. Attestation: the pod VM has no key of its own yet; it serves with an ephemeral
// host key, the client does not check it, and only ATTESTATION_PHASE/BOTH_PHASES tunnels run
// (the key broker's). Once the pod VM has its keys it tells the client to upgrade. Kubernetes:
// the client checks the host key against the pod VM's public key it stored, the server accepts
// only the worker node's public key, and the KUBERNETES_PHASE/BOTH_PHASES tunnels run (the
// kata agent's). The client reconnects the Kubernetes phase whenever it drops.
//
// Built on libssh's standard primitives, not wire-compatible with upstream's Go implementation
// (see docs/securecomms.md): a tunnel is a direct-tcpip channel (client to server) or a
// forwarded-tcpip channel (server to client) whose address field is the tunnel's name; the
// phase exchange, the upgrade and the keep-alive run as lines on a session channel with the
// subsystem "peerpods-phase@v1".
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace pp::securecomms {

inline constexpr char kVersion[] = "v0.2";
inline constexpr uint16_t kSshPort = 2222;
inline constexpr char kPhaseSubsystem[] = "peerpods-phase@v1";
inline constexpr char kSshUser[] = "peerpod";

// Names of keys and tunnels shared by both ends (upstream's).
inline constexpr char kPpPrivateKeyName[] = "pp-sid/privateKey";
inline constexpr char kWnPublicKeyName[] = "sshclient/publicKey";
inline constexpr char kSingletonPath[] = "/run/sshSingleton";
inline constexpr char kUnprovenWnPublicKeyPath[] = "/run/unprovenWnPublicKey";
inline constexpr char kAgentTunnel[] = "KATAAGENT";
inline constexpr char kKbsTunnel[] = "KBS";

// ---------------------------------------------------------------------------------------------
// Tags.

enum class TagPhase { kAttestation, kKubernetes, kBoth };
// "ATTESTATION_PHASE", "KUBERNETES_PHASE", "BOTH_PHASES".
std::string_view tagPhaseName(TagPhase phase);

struct Tag {
  TagPhase phase = TagPhase::kBoth;
  std::string name;
  // Outbound: the host to dial ("" = 127.0.0.1). Inbound: the network namespace (a name under
  // /run/netns) to listen in ("" = the daemon's own).
  std::string hostOrNetns;
  uint16_t port = 0;

  std::string toString() const;
  bool operator==(const Tag&) const = default;
};

// `PHASE:NAME:PORT` or `PHASE:NAME:HOST|NETNS:PORT`. Strict: the phase is one of the three names
// (case-sensitive), NAME is 1-64 characters of [A-Za-z0-9_.-], HOST/NETNS 1-253 characters of
// [A-Za-z0-9_.-] (no IPv6 literal: ':' separates the fields), PORT decimal 0-65535 without sign
// or leading zeros. Errors name the tag and the field.
Result<Tag> parseTag(std::string_view text);
// A comma-separated list (upstream's flags and apf.json); blank items are skipped; a name may
// appear once.
Result<std::vector<Tag>> parseTags(std::string_view list);
std::string joinTags(const std::vector<Tag>& tags);

// ---------------------------------------------------------------------------------------------
// Keys. Private keys are PEM (PKCS#1 "RSA PRIVATE KEY", as upstream stores them; libssh also
// reads OpenSSH and PKCS#8 keys); public keys are authorized_keys lines ("ssh-rsa AAAA...").

struct KeyPair {
  std::string privatePem;
  std::string publicKey;
};

// RSA with `bits` bits (upstream: 4096 for the stored keys, 3072 for the ephemeral host key).
Result<KeyPair> generateRsaKeyPair(int bits);
// The authorized_keys line of a private key; INVALID_ARGUMENT when it is not a usable key.
Result<std::string> publicKeyOf(std::string_view privatePem);
// Checks an authorized_keys line ("type base64 [comment]") and returns "type base64".
Result<std::string> normalizePublicKey(std::string_view line);

// ---------------------------------------------------------------------------------------------
// Timing shared by both ends.

struct LinkTiming {
  // Client: how often it sends a keep-alive on the phase channel. Both ends drop a link from
  // which nothing came for `deadAfter` (a peer that vanished without closing TCP).
  std::chrono::milliseconds pingInterval{5000};
  std::chrono::milliseconds deadAfter{20000};
  // Key exchange, authentication and the phase exchange of one connection.
  std::chrono::milliseconds handshakeTimeout{30000};
  // Outbound tunnels: dialling HOST:PORT.
  std::chrono::milliseconds dialTimeout{10000};
};

// Open tunnels of one link, at most (further channels are refused, further local connections
// closed).
inline constexpr size_t kMaxTunnels = 256;

// ---------------------------------------------------------------------------------------------
// The pod VM's end: SSH server.

struct KubernetesKeys {
  std::string hostPrivateKeyPem;  // the pod VM's key (upstream: pp-<id>/privateKey)
  std::string clientPublicKey;    // the worker node's (sshclient/publicKey)
};

struct ServerOptions {
  std::string listenHost = "0.0.0.0";
  uint16_t port = kSshPort;  // 0: ephemeral (tests)
  std::vector<Tag> inbounds;
  std::vector<Tag> outbounds;
  // Called once on a thread of its own when the server starts; returns the Kubernetes-phase
  // keys (from apf.json at once, or from the key broker once the VM is attested). It should
  // return CANCELLED when `stop` is requested. An error stops the server (see error()).
  std::function<Result<KubernetesKeys>(std::stop_token stop)> fetchKeys;
  // Attestation phase: "" accepts any client without authentication (upstream's NoClientAuth);
  // otherwise only this public key (upstream's /run/unprovenWnPublicKey).
  std::string unprovenClientPublicKey;
  int ephemeralKeyBits = 3072;
  LinkTiming timing;
};

class SshServer {
 public:
  // Listens (inbounds and the SSH port) and starts serving; errors: bad options, ports taken.
  static Result<std::unique_ptr<SshServer>> start(ServerOptions options);
  virtual ~SshServer() = default;
  virtual uint16_t port() const = 0;
  // Port of an inbound tunnel's listener (useful when the tag said 0).
  virtual std::optional<uint16_t> inboundPort(const std::string& name) const = 0;
  virtual bool inKubernetesPhase() const = 0;
  // Set when the server gave up (the key fetch failed); the owner should exit.
  virtual std::optional<Error> error() const = 0;
  virtual void stop() = 0;
};

// ---------------------------------------------------------------------------------------------
// The worker node's end: SSH client, one per pod VM.

struct ClientOptions {
  std::string host;  // the pod VM's address
  uint16_t port = kSshPort;
  std::vector<Tag> inbounds;
  std::vector<Tag> outbounds;
  std::string clientPrivateKeyPem;  // the worker node's key (secret sshclient)
  std::string serverPublicKey;  // the pod VM's (secret pp-<id>): checked in the Kubernetes phase
  // A pod VM that already finished its attestation phase (the adaptor restarted): connect in the
  // Kubernetes phase straight away. A fresh pod VM still answers an attestation-phase client
  // that it is past it, and the client moves on, so this only saves a round trip.
  bool skipAttestation = false;
  // Attestation phase: connection attempts, delay from 100 ms doubling to 5 s (upstream: 100
  // attempts, capped 5 s).
  int attestationAttempts = 100;
  // Kubernetes phase: the delay before reconnecting, from `reconnectDelay` doubling to
  // `reconnectDelayMax`, back to the start after a link that lived longer than the maximum.
  std::chrono::milliseconds reconnectDelay{1000};
  std::chrono::milliseconds reconnectDelayMax{10000};
  LinkTiming timing;
};

class SshClient {
 public:
  // Opens the inbound listeners and starts connecting in the background.
  static Result<std::unique_ptr<SshClient>> start(ClientOptions options);
  virtual ~SshClient() = default;
  virtual std::optional<uint16_t> inboundPort(const std::string& name) const = 0;
  // Waits until a Kubernetes-phase link is up; DEADLINE_EXCEEDED, or the error that made the
  // client give up (attestation attempts exhausted).
  virtual Status waitKubernetesPhase(std::chrono::milliseconds timeout) = 0;
  virtual bool connected() const = 0;
  // How many Kubernetes-phase links were established so far (reconnects + 1).
  virtual int kubernetesLinks() const = 0;
  virtual void stop() = 0;
};

}  // namespace pp::securecomms
