// A throw-away network of namespaces for the tunnel test and benchmark (root only). Everything
// lives in namespaces named pptest-<pid>-*, uses 198.18.0.0/15 only, and is deleted with the
// Testbed, so the machine's own interfaces, routes and iptables rules are never touched.
//
//   pptest-<pid>-br      br0 198.18.0.1/24 -- the underlay "switch"
//   pptest-<pid>-wn      eth0 198.18.0.2/24 (default via .1)           the worker node's host netns
//                        cni0 198.19.1.1/24, veth-podN ports             the CNI bridge
//   pptest-<pid>-podN    eth0 198.19.1.(10+N)/24 mtu 1450, default via 198.19.1.1, permanent
//                        neighbour for the gateway                      a pod on the worker
//   pptest-<pid>-vmN     eth0 198.18.0.(10+N)/24 (default via .1)       pod VM N's own netns
//   pptest-<pid>-vmNpod  (empty)                                        pod VM N's /run/netns/podns
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "podnetwork/address.h"

namespace pp::podnetwork::testbed {

inline std::string netnsPath(const std::string& name) {
  return "/run/netns/" + name;
}

struct PodSite {
  std::string podNetns;    // pod namespace on the worker
  Ipv4Prefix podIp;        // the pod's address (also its address inside the VM)
  std::string vmNetns;     // the VM's own namespace
  std::string vmPodNetns;  // the VM's pod namespace
  Ipv4Address vmIp;
};

class Testbed {
 public:
  // Builds the namespaces above for `pods` pods (1..50); `vms` false leaves out the VM side.
  static Result<std::unique_ptr<Testbed>> create(int pods, bool vms = true);
  ~Testbed();

  const std::string& workerNetns() const { return worker_; }
  Ipv4Address gateway() const { return *Ipv4Address::parse("198.19.1.1"); }
  const std::vector<PodSite>& pods() const { return pods_; }
  std::vector<std::string> allNetns() const;
  // Deletes one pod's namespace early (to test teardown after the pod is gone).
  Status deletePodNetns(size_t index);

  // A description of what the namespaces hold (links, qdiscs, raw-table rules), for comparing
  // before and after: anything left behind shows up as a difference.
  Result<std::string> snapshot() const;

 private:
  Testbed() = default;
  Status run(const std::vector<std::string>& argv);
  Status addNetns(const std::string& name);

  std::string prefix_;
  std::string worker_;
  std::vector<PodSite> pods_;
  std::vector<std::string> created_;
};

// Runs a program in a namespace (ip netns exec) and returns its stdout; a non-zero exit fails.
Result<std::string> runIn(const std::string& netns, std::vector<std::string> argv);

// Traffic helpers. Sockets are opened inside `netns` and used from the calling thread.

// Accepts connections on addr:port in `netns` and answers each with `reply`, until destroyed.
class TcpResponder {
 public:
  static Result<std::unique_ptr<TcpResponder>> start(const std::string& netns, Ipv4Address addr,
                                                     uint16_t port, std::string reply);
  ~TcpResponder();

 private:
  TcpResponder() = default;
  int fd_ = -1;
  int stopFd_ = -1;
  std::string reply_;
  std::thread thread_;
};

// Connects from `netns` to dst:port and returns what the peer sent before closing.
Result<std::string> tcpFetch(const std::string& netns, Ipv4Address dst, uint16_t port,
                             std::chrono::milliseconds timeout);
// ICMP echo from `netns` to dst; OK when a reply arrives within the timeout.
Status ping(const std::string& netns, Ipv4Address dst, std::chrono::milliseconds timeout);

}  // namespace pp::podnetwork::testbed
