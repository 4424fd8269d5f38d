// Pod networking: a VXLAN tunnel that carries a Kubernetes pod's network from its namespace on
// the worker node to the pod VM, where the same IP, MAC, routes and neighbours are rebuilt inside
// the VM's pod namespace (upstream-core.md §1 step 6, §2 "Pod network").
//
//   node side  (cloud-api-adaptor):        WorkerNode::inspect at CreateVM, setup at StartVM,
//                                          teardown at StopVM
//   VM side    (agent-protocol-forwarder): PodNode::setup at start, teardown at exit
//
// What the node learns about the pod travels to the VM as PodNetworkConfig, the `pod-network`
// object of apf.json, with upstream's JSON keys so either side may be the Go implementation.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace pp::podnetwork {

inline constexpr std::string_view kTunnelTypeVxlan = "vxlan";
inline constexpr int kDefaultVxlanPort = 4789;
inline constexpr uint32_t kDefaultVxlanMinId = 555000;
inline constexpr uint32_t kMaxVni = (1u << 24) - 1;
// Name of the tunnel end inside the pod's namespace on the worker node (upstream's name).
inline constexpr std::string_view kWorkerTunnelInterface = "vxlan1";
// Bytes a VXLAN-over-IPv4 encapsulation adds: outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14.
inline constexpr int kVxlanOverhead = 50;

// ---------------------------------------------------------------------------------------------
// Addresses. IPv4 only: upstream reads and moves IPv4 addresses only.

struct Ipv4Address {
  uint32_t value = 0;  // host byte order

  // Dotted quad, nothing else ("10.0.0.1"; no leading zeros, no prefix length).
  static Result<Ipv4Address> parse(std::string_view text);
  std::string toString() const;
  auto operator<=>(const Ipv4Address&) const = default;
};

struct Ipv4Prefix {
  Ipv4Address address;  // not necessarily masked: "10.244.1.5/24" names an interface address
  int length = 32;

  // "a.b.c.d/n" with 0 <= n <= 32.
  static Result<Ipv4Prefix> parse(std::string_view text);
  std::string toString() const;
  Ipv4Prefix masked() const;
  bool contains(Ipv4Address other) const;
  auto operator<=>(const Ipv4Prefix&) const = default;
};

struct MacAddress {
  std::array<uint8_t, 6> bytes{};

  // Six colon-separated hex pairs, either case ("0a:58:0a:f4:01:05").
  static Result<MacAddress> parse(std::string_view text);
  std::string toString() const;  // lowercase, as Go's net.HardwareAddr prints it
  auto operator<=>(const MacAddress&) const = default;
};

// ---------------------------------------------------------------------------------------------
// The pod network description (apf.json "pod-network").

struct Route {
  std::optional<Ipv4Prefix> dst;  // nullopt: the default route (upstream writes "")
  std::optional<Ipv4Address> gw;  // nullopt: on-link (upstream writes "")
  std::string dev;
  uint8_t protocol = 0;  // RTPROT_*; JSON "static" | "boot" | "dhcp" | "kernel", 0 = omitted
  uint8_t scope = 0;     // RT_SCOPE_*; JSON "universe" | "site" | "link" | "host" | "nowhere"
  bool operator==(const Route&) const = default;
};

struct Neighbor {
  Ipv4Address ip;
  std::optional<MacAddress> hwAddr;
  std::string dev;
  uint16_t state = 0;  // NUD_*; JSON "permanent", "reachable", ...
  bool operator==(const Neighbor&) const = default;
};

struct PodNetworkConfig {
  std::optional<Ipv4Prefix> podIp;         // "podip": the pod's address with its prefix length
  std::optional<MacAddress> podHwAddr;     // "pod-hw-addr"
  std::string interfaceName;               // "interface": the pod's primary interface (eth0)
  std::optional<Ipv4Prefix> workerNodeIp;  // "worker-node-ip": tunnel remote seen from the VM
  std::string tunnelType{kTunnelTypeVxlan};
  std::vector<Route> routes;
  std::vector<Neighbor> neighbors;
  int mtu = 0;  // the pod interface's MTU on the worker
  int index = 0;
  int vxlanPort = 0;
  uint32_t vxlanId = 0;
  bool dedicated = false;
  bool externalNetViaPodVm = false;

  // Serialises with upstream's keys and value formats (Go's encoding/json of tunneler.Config).
  nlohmann::json toJson() const;
  std::string toJsonString() const;
  // Strict: a present key with the wrong type, a malformed address, a port or VNI out of range
  // or an unknown route protocol/scope/neighbour state is an INVALID_ARGUMENT naming the key.
  // Absent keys take their zero value and unknown keys are ignored, as Go's decoder does, so a
  // config written by the Go adaptor (or a newer one) is accepted.
  static Result<PodNetworkConfig> fromJson(const nlohmann::json& json);
  static Result<PodNetworkConfig> parse(std::string_view text);

  bool operator==(const PodNetworkConfig&) const = default;
};

// MTU of the pod interface inside the VM: what the VM's underlay can carry after the VXLAN
// overhead, and never more than the pod had on the worker (podMtu <= 0 means unknown).
// Upstream caps at a fixed 1450 instead, which is wrong for jumbo-frame and for small underlays.
int tunnelMtu(int podMtu, int underlayMtu);

// ---------------------------------------------------------------------------------------------
// Network namespaces.

// An open network namespace (a file descriptor on /run/netns/<name>, /proc/<pid>/ns/net, ...).
class Netns {
 public:
  // path "" opens the calling thread's current namespace.
  static Result<Netns> open(const std::string& path);
  static Result<Netns> current() { return open(""); }

  Netns(Netns&& other) noexcept;
  Netns& operator=(Netns&& other) noexcept;
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  ~Netns();

  // Another handle on the same namespace (a dup of the descriptor), e.g. for another thread.
  Result<Netns> duplicate() const;

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  bool sameAs(const Netns& other) const;

 private:
  Netns(int fd, std::string path, uint64_t dev, uint64_t ino);
  int fd_ = -1;
  std::string path_;
  uint64_t dev_ = 0;
  uint64_t ino_ = 0;
};

// Switches the calling thread into a namespace until destroyed, then back. Sockets opened in
// between belong to the entered namespace for their whole life, which is how this module talks
// netlink to a namespace. Child processes spawned in between inherit it. Not movable: the scope
// is tied to the thread that created it.
class NetnsScope {
 public:
  static Result<std::unique_ptr<NetnsScope>> enter(const Netns& target);
  ~NetnsScope();
  NetnsScope(const NetnsScope&) = delete;
  NetnsScope& operator=(const NetnsScope&) = delete;

 private:
  explicit NetnsScope(Netns original) : original_(std::move(original)) {}
  Netns original_;
};

// ---------------------------------------------------------------------------------------------
// VNI allocation (node side).

// Hands out VXLAN network identifiers from [minId, 2^24-1]. A VNI is never handed out while it
// is in use; after an adaptor restart the sandbox manager reserve()s the VNIs it reloads from
// saved sandbox state so new pods do not collide with pods that outlived the restart (upstream
// restarts its counter at minId). Released VNIs are reused only after the rest of the range has
// been tried, so a VNI whose old VM may still be sending is not recycled at once. Thread-safe.
class VniAllocator {
 public:
  static Result<std::unique_ptr<VniAllocator>> create(uint32_t minId = kDefaultVxlanMinId);

  uint32_t minId() const { return minId_; }
  Result<uint32_t> allocate();
  // Marks a VNI taken (any valid VNI, also below minId: it is in use whatever our range is).
  // ALREADY_EXISTS if it is already taken, which means two sandboxes claim the same tunnel.
  Status reserve(uint32_t vni);
  // Releasing a VNI that is not taken is a no-op, so teardown can be repeated.
  void release(uint32_t vni);
  bool inUse(uint32_t vni) const;
  size_t inUseCount() const;

 private:
  explicit VniAllocator(uint32_t minId) : minId_(minId), next_(minId) {}
  const uint32_t minId_;
  mutable std::mutex mutex_;
  std::set<uint32_t> used_;
  uint32_t next_;
};

// ---------------------------------------------------------------------------------------------
// Node side.

struct WorkerNodeOptions {
  std::string tunnelType{kTunnelTypeVxlan};  // -tunnel-type (only vxlan exists)
  std::string hostInterface;                 // -host-interface ("" = primary interface)
  int vxlanPort = kDefaultVxlanPort;         // -vxlan-port
  std::vector<std::string> podSubnetCidrs;   // -pod-subnet-cidrs, one CIDR per element
  bool externalNetViaPodVm = false;          // -ext-network-via-podvm
  // The namespace holding the node's underlay, the tunnel's UDP socket and the NOTRACK rules.
  // "" = the namespace of the thread that calls create() (the adaptor's, i.e. the host's).
  std::string hostNetnsPath;
  std::string iptablesPath = "/usr/sbin/iptables";
};

class WorkerNode {
 public:
  // Validates the options (unknown tunnel type, bad port or CIDR: INVALID_ARGUMENT). The
  // allocator must outlive the WorkerNode; the adaptor owns both.
  static Result<std::unique_ptr<WorkerNode>> create(WorkerNodeOptions options, VniAllocator& vnis);
  virtual ~WorkerNode() = default;

  // Reads the pod namespace (primary interface, its IPv4 address, MAC, MTU, routes, permanent
  // neighbours) and the host (primary interface, worker IP) and allocates a VNI.
  virtual Result<PodNetworkConfig> inspect(const std::string& podNetnsPath) = 0;
  // Creates the tunnel to the VM: NOTRACK rules, `vxlan1` in the pod namespace with its UDP
  // socket in the host namespace, and tc redirects between it and the pod interface. vmIps are
  // the VM's addresses; the second one is used when the config is `dedicated`. On failure what
  // was created is removed again.
  virtual Status setup(const std::string& podNetnsPath, const PodNetworkConfig& config,
                       std::span<const Ipv4Address> vmIps) = 0;
  // Reverses setup, reading remote, port and VNI back from the device; releases the VNI.
  // Idempotent: a missing device, qdisc, rule or pod namespace is not an error.
  virtual Status teardown(const std::string& podNetnsPath, const PodNetworkConfig& config) = 0;
};

// ---------------------------------------------------------------------------------------------
// VM side.

struct PodNodeOptions {
  std::string hostInterface;  // forwarder -host-interface ("" = primary interface)
  // The VM's own namespace (underlay NIC, tunnel socket, NOTRACK rules). "" = the namespace of
  // the thread that calls create().
  std::string hostNetnsPath;
  // How long to wait for the VM's interface and its address (DHCP may still be running).
  std::chrono::milliseconds waitTimeout = std::chrono::minutes(3);
  std::chrono::milliseconds pollInterval = std::chrono::seconds(1);
  std::string iptablesPath = "/usr/sbin/iptables";
};

class PodNode {
 public:
  static Result<std::unique_ptr<PodNode>> create(PodNodeOptions options);
  virtual ~PodNode() = default;

  // Builds the pod's interface in podNamespacePath (/run/netns/podns): a VXLAN device towards the
  // worker carrying the pod's name, MAC, IP, routes and neighbours.
  virtual Status setup(const PodNetworkConfig& config, const std::string& podNamespacePath) = 0;
  // Removes the device and the NOTRACK rules. Idempotent.
  virtual Status teardown(const PodNetworkConfig& config, const std::string& podNamespacePath) = 0;
};

}  // namespace pp::podnetwork
