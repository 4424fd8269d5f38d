// Internal: the rtnetlink operations pod networking needs, over libnl-route-3. One RouteSocket
// talks to one network namespace, the one it was opened in.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "podnetwork/config.h"
#include "podnetwork/netns.h"

struct nl_sock;
struct rtnl_link;

namespace pp::podnetwork::netlink {

struct LinkInfo {
  int index = 0;
  std::string name;
  std::string kind;  // "vxlan", "veth", ... ("" for physical devices)
  int mtu = 0;
  std::optional<MacAddress> mac;
  bool up = false;
};

struct VxlanInfo {
  uint32_t vni = 0;
  std::optional<Ipv4Address> remote;
  int port = 0;
};

// A route of the main table with the details upstream keeps plus the metric for ordering.
struct RouteEntry {
  Route route;  // dev filled with the interface name
  int ifindex = 0;
  uint32_t priority = 0;
};

struct VxlanSpec {
  std::string name;
  uint32_t vni = 0;
  Ipv4Address remote;
  int port = 0;
  // Create the device straight into this namespace (IFLA_NET_NS_FD): its UDP socket stays in
  // the namespace the RouteSocket belongs to, while the device itself never appears there.
  int targetNetnsFd = -1;
  std::optional<MacAddress> mac;
  int mtu = 0;  // 0: kernel default
  bool up = false;
};

class RouteSocket {
 public:
  // Opens a socket in `ns` (the calling thread is switched there for the duration of the call).
  static Result<RouteSocket> open(const Netns& ns);

  RouteSocket(RouteSocket&&) noexcept;
  RouteSocket& operator=(RouteSocket&&) noexcept;
  ~RouteSocket();

  const std::string& netnsPath() const { return netnsPath_; }

  Result<std::optional<LinkInfo>> findLink(const std::string& name);
  Result<LinkInfo> link(const std::string& name);  // NOT_FOUND names the interface
  Result<std::vector<LinkInfo>> links();
  Result<std::optional<VxlanInfo>> vxlanInfo(const std::string& name);  // nullopt: not vxlan
  Status addVxlan(const VxlanSpec& spec);
  // Deletes a link; a missing link is not an error. Returns once the kernel has unlisted the
  // device (its name, VNI and port are free again and it is gone from the namespace), without
  // waiting for the kernel's deferred release of the device, which waits for RCU grace periods
  // (tens of ms on a small VM) and changes nothing visible; a background thread waits for that.
  Status deleteLink(const std::string& name);
  // Moves a link into another namespace, optionally renaming it on the way.
  Status moveLink(const LinkInfo& link, const Netns& target, const std::string& newName);
  Status setLinkUp(const LinkInfo& link);
  // Renames a link (which must be down) within this namespace.
  Status renameLink(const LinkInfo& link, const std::string& newName);

  Result<std::vector<Ipv4Prefix>> ipv4Addresses(int ifindex);
  Status addAddress(int ifindex, const std::string& ifname, Ipv4Prefix prefix);

  // IPv4 unicast routes of the main table, ordered as upstream orders them (destination
  // address, prefix length, metric).
  Result<std::vector<RouteEntry>> routes();
  // Adds a route; dev is resolved in this namespace. No gateway means scope link, as upstream.
  Status addRoute(const Route& route);
  // Deletes main-table routes to dst through ifindex (any interface when ifindex < 0).
  Status deleteRoutesTo(Ipv4Prefix dst, int ifindex);

  Result<std::vector<Neighbor>> permanentNeighbors(int ifindex, const std::string& ifname);
  Status addNeighbor(const Neighbor& neighbor);

  // tc: ingress qdisc on `from` + u32 match-all filter with a mirred egress redirect to `to`.
  Status addRedirect(const LinkInfo& from, const LinkInfo& to);
  // Removes the ingress qdisc (and with it the redirect filters). Missing is not an error.
  Status deleteIngressQdisc(const LinkInfo& link);

 private:
  RouteSocket(nl_sock* sock, Netns netns);
  // Looks the link up in the kernel and applies the attributes `edit` sets on a change request;
  // `what` names the operation in errors ("setting eth0 up").
  Status changeLink(const LinkInfo& link, const std::function<void(rtnl_link*)>& edit,
                    const std::string& what);
  nl_sock* sock_ = nullptr;
  Netns netns_;
  std::string netnsPath_;
};

}  // namespace pp::podnetwork::netlink
