// Internal: which interface of a namespace is its primary one, as upstream decides it.
#pragma once

#include <optional>
#include <string>

#include "podnetwork/netlink.h"

namespace pp::podnetwork {

struct PrimaryInterface {
  std::string name;
  std::optional<Ipv4Address> gateway;  // of its default route
};

// The interface of the default route with the lowest metric. Among default routes of equal
// metric an interface of the same name family with a lower number wins (ens3 over ens4), so a
// multi-NIC VM picks its first NIC whatever order the kernel lists them in.
Result<PrimaryInterface> findPrimaryInterface(netlink::RouteSocket& socket);

}  // namespace pp::podnetwork
