// Internal: the raw-table NOTRACK rules that keep the tunnel's UDP packets out of conntrack, with
// upstream's chains (peerpod-OUTPUT, peerpod-PREROUTING) and comment ("peerpod [vni:N]") so
// rules left by either implementation are recognised by the other.
//
// Why iptables and not netlink: on a node the rules must live in whatever backend the node's
// other iptables users (kube-proxy, CNI) use, and the iptables binary is what chooses and speaks
// it (iptables-nft on Debian 12, legacy elsewhere); upstream runs the same binary through
// go-iptables. Each change is one `iptables-restore --noflush` transaction, preceded by one
// `iptables -t raw -S` to see what is already there, so a change is atomic and costs two runs.
#pragma once

#include <string>

#include "podnetwork/address.h"

namespace pp::podnetwork {

class NotrackRules {
 public:
  // iptablesPath: the iptables binary; "<iptablesPath>-restore" must exist beside it.
  explicit NotrackRules(std::string iptablesPath);

  // Adds, in the namespace the calling thread is in, NOTRACK for UDP to and from `remote` with
  // destination port `port`, creating the chains and their jumps when missing. Rules already
  // present are not duplicated.
  Status add(Ipv4Address remote, int port, uint32_t vni) const;
  // Deletes every rule of this VNI and each chain that becomes empty (with its jump).
  // Nothing to delete is not an error.
  Status remove(uint32_t vni) const;

 private:
  Result<std::string> listRawTable() const;
  Status restore(const std::string& lines) const;

  std::string iptables_;
  std::string restore_;
};

}  // namespace pp::podnetwork
