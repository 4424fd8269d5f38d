#include "podnetwork/netlink.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <linux/if_ether.h>
#include <linux/neighbour.h>
#include <linux/pkt_cls.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <net/if.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/action.h>
#include <netlink/route/addr.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/route.h>
#include <netlink/route/tc.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace pp::podnetwork::netlink {
namespace {

// Owning handles for libnl's reference-counted objects.
template <typename T, void (*Put)(T*)>
struct Putter {
  void operator()(T* p) const {
    if (p) Put(p);
  }
};
using LinkPtr = std::unique_ptr<rtnl_link, Putter<rtnl_link, rtnl_link_put>>;
using AddrPtr = std::unique_ptr<nl_addr, Putter<nl_addr, nl_addr_put>>;
using CachePtr = std::unique_ptr<nl_cache, Putter<nl_cache, nl_cache_free>>;
using RtAddrPtr = std::unique_ptr<rtnl_addr, Putter<rtnl_addr, rtnl_addr_put>>;
using RoutePtr = std::unique_ptr<rtnl_route, Putter<rtnl_route, rtnl_route_put>>;
using NeighPtr = std::unique_ptr<rtnl_neigh, Putter<rtnl_neigh, rtnl_neigh_put>>;
using QdiscPtr = std::unique_ptr<rtnl_qdisc, Putter<rtnl_qdisc, rtnl_qdisc_put>>;
using ClsPtr = std::unique_ptr<rtnl_cls, Putter<rtnl_cls, rtnl_cls_put>>;
using ActPtr = std::unique_ptr<rtnl_act, Putter<rtnl_act, rtnl_act_put>>;

Code codeFor(int err) {
  switch (std::abs(err)) {
    case NLE_EXIST:
      return Code::kAlreadyExists;
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
      return Code::kNotFound;
    case NLE_PERM:
    case NLE_NOACCESS:
      return Code::kPermissionDenied;
    case NLE_INVAL:
    case NLE_RANGE:
      return Code::kInvalidArgument;
    default:
      return Code::kInternal;
  }
}

bool isNotFound(int err) {
  return codeFor(err) == Code::kNotFound;
}

Error nlError(int err, std::string_view what, const std::string& netns) {
  return Error(codeFor(err), fmt::format("{} (netns {}): {}", what, netns, nl_geterror(err)));
}

AddrPtr makeIpv4(Ipv4Address address, int prefixLength = 32) {
  uint32_t be = htonl(address.value);
  AddrPtr addr(nl_addr_build(AF_INET, &be, sizeof(be)));
  if (addr) nl_addr_set_prefixlen(addr.get(), prefixLength);
  return addr;
}

AddrPtr makeMac(const MacAddress& mac) {
  return AddrPtr(nl_addr_build(AF_LLC, mac.bytes.data(), mac.bytes.size()));
}

std::optional<Ipv4Address> toIpv4(nl_addr* addr) {
  if (!addr || nl_addr_get_family(addr) != AF_INET || nl_addr_get_len(addr) != 4) {
    return std::nullopt;
  }
  uint32_t be = 0;
  std::memcpy(&be, nl_addr_get_binary_addr(addr), sizeof(be));
  return Ipv4Address{ntohl(be)};
}

std::optional<MacAddress> toMac(nl_addr* addr) {
  if (!addr || nl_addr_get_len(addr) != 6) return std::nullopt;
  MacAddress mac;
  std::memcpy(mac.bytes.data(), nl_addr_get_binary_addr(addr), 6);
  return mac;
}

LinkInfo toLinkInfo(rtnl_link* link) {
  LinkInfo info;
  info.index = rtnl_link_get_ifindex(link);
  if (const char* name = rtnl_link_get_name(link)) info.name = name;
  if (const char* kind = rtnl_link_get_type(link)) info.kind = kind;
  info.mtu = static_cast<int>(rtnl_link_get_mtu(link));
  info.mac = toMac(rtnl_link_get_addr(link));
  info.up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
  return info;
}

// Walks a cache as the concrete object type.
template <typename T, typename F>
void forEach(nl_cache* cache, F&& fn) {
  for (nl_object* obj = nl_cache_get_first(cache); obj; obj = nl_cache_get_next(obj)) {
    fn(reinterpret_cast<T*>(obj));
  }
}

}  // namespace

Result<RouteSocket> RouteSocket::open(const Netns& ns) {
  auto scope = NetnsScope::enter(ns);
  if (!scope) return fail(scope.error());
  nl_sock* sock = nl_socket_alloc();
  if (!sock) return fail(Code::kResourceExhausted, "allocating a netlink socket");
  if (int err = nl_connect(sock, NETLINK_ROUTE); err < 0) {
    nl_socket_free(sock);
    return fail(nlError(err, "connecting a netlink socket", ns.path()));
  }
  auto own = ns.duplicate();
  if (!own) {
    nl_socket_free(sock);
    return fail(own.error());
  }
  return RouteSocket(sock, std::move(*own));
}

RouteSocket::RouteSocket(nl_sock* sock, Netns netns)
    : sock_(sock), netns_(std::move(netns)), netnsPath_(netns_.path()) {}

RouteSocket::RouteSocket(RouteSocket&& other) noexcept
    : sock_(std::exchange(other.sock_, nullptr)),
      netns_(std::move(other.netns_)),
      netnsPath_(std::move(other.netnsPath_)) {}

RouteSocket& RouteSocket::operator=(RouteSocket&& other) noexcept {
  if (this != &other) {
    if (sock_) nl_socket_free(sock_);
    sock_ = std::exchange(other.sock_, nullptr);
    netns_ = std::move(other.netns_);
    netnsPath_ = std::move(other.netnsPath_);
  }
  return *this;
}

RouteSocket::~RouteSocket() {
  if (sock_) nl_socket_free(sock_);
}

Result<std::optional<LinkInfo>> RouteSocket::findLink(const std::string& name) {
  rtnl_link* raw = nullptr;
  int err = rtnl_link_get_kernel(sock_, 0, name.c_str(), &raw);
  LinkPtr link(raw);
  if (err < 0) {
    if (isNotFound(err)) return std::optional<LinkInfo>();
    return fail(nlError(err, fmt::format("looking up interface {}", name), netnsPath_));
  }
  return std::optional<LinkInfo>(toLinkInfo(link.get()));
}

Result<LinkInfo> RouteSocket::link(const std::string& name) {
  auto found = findLink(name);
  if (!found) return fail(found.error());
  if (!*found) {
    return fail(Code::kNotFound,
                fmt::format("interface {} not found in netns {}", name, netnsPath_));
  }
  return **found;
}

Result<std::vector<LinkInfo>> RouteSocket::links() {
  nl_cache* raw = nullptr;
  int err = rtnl_link_alloc_cache(sock_, AF_UNSPEC, &raw);
  CachePtr cache(raw);
  if (err < 0) return fail(nlError(err, "listing interfaces", netnsPath_));
  std::vector<LinkInfo> out;
  forEach<rtnl_link>(cache.get(), [&](rtnl_link* l) { out.push_back(toLinkInfo(l)); });
  return out;
}

Result<std::optional<VxlanInfo>> RouteSocket::vxlanInfo(const std::string& name) {
  rtnl_link* raw = nullptr;
  int err = rtnl_link_get_kernel(sock_, 0, name.c_str(), &raw);
  LinkPtr link(raw);
  if (err < 0) {
    if (isNotFound(err)) {
      return fail(Code::kNotFound,
                  fmt::format("interface {} not found in netns {}", name, netnsPath_));
    }
    return fail(nlError(err, fmt::format("looking up interface {}", name), netnsPath_));
  }
  if (!rtnl_link_is_vxlan(link.get())) return std::optional<VxlanInfo>();
  VxlanInfo info;
  rtnl_link_vxlan_get_id(link.get(), &info.vni);
  nl_addr* group = nullptr;
  if (rtnl_link_vxlan_get_group(link.get(), &group) == 0) {
    AddrPtr owned(group);
    info.remote = toIpv4(group);
  }
  uint32_t port = 0;
  if (rtnl_link_vxlan_get_port(link.get(), &port) == 0) info.port = static_cast<int>(port);
  return std::optional<VxlanInfo>(info);
}

Status RouteSocket::addVxlan(const VxlanSpec& spec) {
  LinkPtr link(rtnl_link_vxlan_alloc());
  AddrPtr remote = makeIpv4(spec.remote);
  if (!link || !remote) return fail(Code::kResourceExhausted, "allocating a vxlan link");
  rtnl_link_set_name(link.get(), spec.name.c_str());
  rtnl_link_vxlan_set_id(link.get(), spec.vni);
  rtnl_link_vxlan_set_group(link.get(), remote.get());
  rtnl_link_vxlan_set_port(link.get(), static_cast<uint32_t>(spec.port));
  // No learning, as upstream creates it: every frame goes to the one remote.
  rtnl_link_vxlan_set_learning(link.get(), 0);
  if (spec.targetNetnsFd >= 0) rtnl_link_set_ns_fd(link.get(), spec.targetNetnsFd);
  AddrPtr mac;
  if (spec.mac) {
    mac = makeMac(*spec.mac);
    rtnl_link_set_addr(link.get(), mac.get());
  }
  if (spec.mtu > 0) rtnl_link_set_mtu(link.get(), static_cast<unsigned>(spec.mtu));
  if (spec.up) rtnl_link_set_flags(link.get(), IFF_UP);
  if (int err = rtnl_link_add(sock_, link.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
    return fail(nlError(err,
                        fmt::format("creating vxlan {} (vni {}, remote {}:{})", spec.name, spec.vni,
                                    spec.remote.toString(), spec.port),
                        netnsPath_));
  }
  return {};
}

namespace {

// Shared between deleteLink and the thread that carries out the deletion.
struct Deletion {
  std::mutex mutex;
  std::optional<Status> result;  // set when the kernel call returned
  int doneFd = -1;               // eventfd, written when result is set
  ~Deletion() {
    if (doneFd >= 0) close(doneFd);
  }
};

// True when `buffer` holds an RTM_DELLINK notification for ifindex.
bool isDelLink(const char* buffer, ssize_t length, int ifindex) {
  for (auto* h = reinterpret_cast<const nlmsghdr*>(buffer); NLMSG_OK(h, length);
       h = NLMSG_NEXT(h, length)) {
    if (h->nlmsg_type != RTM_DELLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) continue;
    auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
    if (ifi->ifi_index == ifindex) return true;
  }
  return false;
}

}  // namespace

Status RouteSocket::deleteLink(const std::string& name) {
  auto found = findLink(name);
  if (!found) return fail(found.error());
  if (!*found) return {};
  const int ifindex = (*found)->index;
  const std::string what = fmt::format("deleting interface {}", name);

  // Listen for the kernel's announcement before asking, so it cannot be missed. nl_connect
  // creates the socket, so it runs inside the namespace.
  std::unique_ptr<nl_sock, void (*)(nl_sock*)> monitor(nl_socket_alloc(), nl_socket_free);
  if (!monitor) return fail(Code::kResourceExhausted, "allocating a netlink socket");
  {
    auto scope = NetnsScope::enter(netns_);
    if (!scope) return fail(scope.error());
    if (int err = nl_connect(monitor.get(), NETLINK_ROUTE); err < 0) {
      return fail(nlError(err, "connecting a netlink monitor", netnsPath_));
    }
  }
  if (int err = nl_socket_add_membership(monitor.get(), RTNLGRP_LINK); err < 0) {
    return fail(nlError(err, "subscribing to link events", netnsPath_));
  }

  auto deletion = std::make_shared<Deletion>();
  deletion->doneFd = eventfd(0, EFD_CLOEXEC);
  auto ns = netns_.duplicate();
  if (deletion->doneFd < 0 || !ns) {
    return fail(Code::kResourceExhausted, fmt::format("{}: no descriptors left", what));
  }
  // The kernel answers RTM_DELLINK only after its deferred cleanup; that wait belongs to this
  // thread, which owns everything it touches.
  std::thread([deletion, ns = std::move(*ns), ifindex, what, path = netnsPath_]() mutable {
    Status status;
    auto socket = RouteSocket::open(ns);
    if (!socket) {
      status = fail(socket.error());
    } else {
      LinkPtr link(rtnl_link_alloc());
      rtnl_link_set_ifindex(link.get(), ifindex);
      int err = rtnl_link_delete(socket->sock_, link.get());
      if (err < 0 && !isNotFound(err)) status = fail(nlError(err, what, path));
    }
    std::lock_guard lock(deletion->mutex);
    deletion->result = status;
    uint64_t one = 1;
    (void)!write(deletion->doneFd, &one, sizeof(one));
  }).detach();

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  const int monitorFd = nl_socket_get_fd(monitor.get());
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return fail(Code::kDeadlineExceeded,
                  fmt::format("{} (netns {}): timed out", what, netnsPath_));
    }
    pollfd fds[2] = {{monitorFd, POLLIN, 0}, {deletion->doneFd, POLLIN, 0}};
    if (poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) {
      return fail(Code::kInternal, fmt::format("{}: poll: {}", what, std::strerror(errno)));
    }
    if (fds[1].revents) {
      std::lock_guard lock(deletion->mutex);
      return *deletion->result;  // finished (or failed) before we saw the event
    }
    if (fds[0].revents) {
      char buffer[16384];
      ssize_t n = recv(monitorFd, buffer, sizeof(buffer), MSG_DONTWAIT);
      if (n > 0 && isDelLink(buffer, n, ifindex)) return {};
    }
  }
}

Status RouteSocket::changeLink(const LinkInfo& info, const std::function<void(rtnl_link*)>& edit,
                               const std::string& what) {
  rtnl_link* raw = nullptr;
  int err = rtnl_link_get_kernel(sock_, info.index, nullptr, &raw);
  LinkPtr orig(raw);
  if (err < 0) return fail(nlError(err, fmt::format("looking up {}", info.name), netnsPath_));
  LinkPtr change(rtnl_link_alloc());
  if (!change) return fail(Code::kResourceExhausted, "allocating a link");
  edit(change.get());
  if (err = rtnl_link_change(sock_, orig.get(), change.get(), 0); err < 0) {
    return fail(nlError(err, what, netnsPath_));
  }
  return {};
}

Status RouteSocket::moveLink(const LinkInfo& info, const Netns& target,
                             const std::string& newName) {
  return changeLink(
      info,
      [&](rtnl_link* change) {
        rtnl_link_set_ns_fd(change, target.fd());
        if (!newName.empty()) rtnl_link_set_name(change, newName.c_str());
      },
      fmt::format("moving {} to netns {}", info.name, target.path()));
}

Status RouteSocket::renameLink(const LinkInfo& info, const std::string& newName) {
  return changeLink(
      info, [&](rtnl_link* change) { rtnl_link_set_name(change, newName.c_str()); },
      fmt::format("renaming {} to {}", info.name, newName));
}

Status RouteSocket::setLinkUp(const LinkInfo& info) {
  return changeLink(
      info, [](rtnl_link* change) { rtnl_link_set_flags(change, IFF_UP); },
      fmt::format("setting {} up", info.name));
}

Result<std::vector<Ipv4Prefix>> RouteSocket::ipv4Addresses(int ifindex) {
  nl_cache* raw = nullptr;
  int err = rtnl_addr_alloc_cache(sock_, &raw);
  CachePtr cache(raw);
  if (err < 0) return fail(nlError(err, "listing addresses", netnsPath_));
  std::vector<Ipv4Prefix> out;
  forEach<rtnl_addr>(cache.get(), [&](rtnl_addr* a) {
    if (rtnl_addr_get_ifindex(a) != ifindex || rtnl_addr_get_family(a) != AF_INET) return;
    if (auto ip = toIpv4(rtnl_addr_get_local(a))) {
      out.push_back(Ipv4Prefix{*ip, rtnl_addr_get_prefixlen(a)});
    }
  });
  return out;
}

Status RouteSocket::addAddress(int ifindex, const std::string& ifname, Ipv4Prefix prefix) {
  RtAddrPtr addr(rtnl_addr_alloc());
  AddrPtr local = makeIpv4(prefix.address, prefix.length);
  if (!addr || !local) return fail(Code::kResourceExhausted, "allocating an address");
  rtnl_addr_set_ifindex(addr.get(), ifindex);
  rtnl_addr_set_local(addr.get(), local.get());
  rtnl_addr_set_prefixlen(addr.get(), prefix.length);
  if (int err = rtnl_addr_add(sock_, addr.get(), 0); err < 0) {
    return fail(nlError(err, fmt::format("adding address {} to {}", prefix.toString(), ifname),
                        netnsPath_));
  }
  return {};
}

Result<std::vector<RouteEntry>> RouteSocket::routes() {
  auto linkList = links();
  if (!linkList) return fail(linkList.error());
  std::map<int, std::string> names;
  for (const LinkInfo& l : *linkList) names[l.index] = l.name;

  nl_cache* raw = nullptr;
  int err = rtnl_route_alloc_cache(sock_, AF_INET, 0, &raw);
  CachePtr cache(raw);
  if (err < 0) return fail(nlError(err, "listing routes", netnsPath_));
  std::vector<RouteEntry> out;
  forEach<rtnl_route>(cache.get(), [&](rtnl_route* r) {
    if (rtnl_route_get_table(r) != RT_TABLE_MAIN || rtnl_route_get_type(r) != RTN_UNICAST) {
      return;
    }
    RouteEntry entry;
    nl_addr* dst = rtnl_route_get_dst(r);
    int dstLength = dst ? static_cast<int>(nl_addr_get_prefixlen(dst)) : 0;
    if (auto ip = toIpv4(dst); ip && dstLength > 0) entry.route.dst = Ipv4Prefix{*ip, dstLength};
    if (rtnl_route_get_nnexthops(r) > 0) {
      rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
      entry.route.gw = toIpv4(rtnl_route_nh_get_gateway(nh));
      entry.ifindex = rtnl_route_nh_get_ifindex(nh);
      if (auto it = names.find(entry.ifindex); it != names.end()) entry.route.dev = it->second;
    }
    entry.route.protocol = rtnl_route_get_protocol(r);
    entry.route.scope = rtnl_route_get_scope(r);
    entry.priority = rtnl_route_get_priority(r);
    out.push_back(std::move(entry));
  });
  auto key = [](const RouteEntry& e) {
    Ipv4Prefix dst = e.route.dst.value_or(Ipv4Prefix{Ipv4Address{0}, 0});
    return std::tuple(dst.address.value, dst.length, e.priority);
  };
  std::stable_sort(out.begin(), out.end(),
                   [&](const RouteEntry& a, const RouteEntry& b) { return key(a) < key(b); });
  return out;
}

Status RouteSocket::addRoute(const Route& route) {
  std::string description = fmt::format("adding route {} via {} dev {}",
                                        route.dst ? route.dst->toString() : std::string("default"),
                                        route.gw ? route.gw->toString() : std::string("-"),
                                        route.dev.empty() ? std::string("-") : route.dev);
  int ifindex = 0;
  if (!route.dev.empty()) {
    auto l = link(route.dev);
    if (!l) return fail(l.error().wrap(description));
    ifindex = l->index;
  }
  RoutePtr r(rtnl_route_alloc());
  Ipv4Prefix dstPrefix = route.dst.value_or(Ipv4Prefix{Ipv4Address{0}, 0});
  AddrPtr dst = makeIpv4(dstPrefix.address, dstPrefix.length);
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  if (!r || !dst || !nh) {
    if (nh) rtnl_route_nh_free(nh);
    return fail(Code::kResourceExhausted, "allocating a route");
  }
  rtnl_route_set_family(r.get(), AF_INET);
  rtnl_route_set_table(r.get(), RT_TABLE_MAIN);
  rtnl_route_set_type(r.get(), RTN_UNICAST);
  rtnl_route_set_dst(r.get(), dst.get());
  if (route.protocol != 0) rtnl_route_set_protocol(r.get(), route.protocol);
  rtnl_route_set_scope(r.get(), route.gw ? route.scope : static_cast<uint8_t>(RT_SCOPE_LINK));
  if (ifindex > 0) rtnl_route_nh_set_ifindex(nh, ifindex);
  AddrPtr gw;
  if (route.gw) {
    gw = makeIpv4(*route.gw);
    rtnl_route_nh_set_gateway(nh, gw.get());
  }
  rtnl_route_add_nexthop(r.get(), nh);  // the route owns nh from here
  if (int err = rtnl_route_add(sock_, r.get(), NLM_F_EXCL); err < 0) {
    return fail(nlError(err, description, netnsPath_));
  }
  return {};
}

Status RouteSocket::deleteRoutesTo(Ipv4Prefix dst, int ifindex) {
  nl_cache* raw = nullptr;
  int err = rtnl_route_alloc_cache(sock_, AF_INET, 0, &raw);
  CachePtr cache(raw);
  if (err < 0) return fail(nlError(err, "listing routes", netnsPath_));
  Status status;
  forEach<rtnl_route>(cache.get(), [&](rtnl_route* r) {
    if (!status || rtnl_route_get_table(r) != RT_TABLE_MAIN) return;
    nl_addr* d = rtnl_route_get_dst(r);
    auto ip = toIpv4(d);
    if (!ip || static_cast<int>(nl_addr_get_prefixlen(d)) != dst.length ||
        *ip != dst.masked().address ||
        (ifindex >= 0 && (rtnl_route_get_nnexthops(r) == 0 ||
                          rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(r, 0)) != ifindex))) {
      return;
    }
    if (int e = rtnl_route_delete(sock_, r, 0); e < 0 && !isNotFound(e)) {
      status = fail(nlError(e, fmt::format("deleting route {}", dst.toString()), netnsPath_));
    }
  });
  return status;
}

Result<std::vector<Neighbor>> RouteSocket::permanentNeighbors(int ifindex,
                                                              const std::string& ifname) {
  nl_cache* raw = nullptr;
  int err = rtnl_neigh_alloc_cache(sock_, &raw);
  CachePtr cache(raw);
  if (err < 0) return fail(nlError(err, "listing neighbours", netnsPath_));
  std::vector<Neighbor> out;
  forEach<rtnl_neigh>(cache.get(), [&](rtnl_neigh* n) {
    if (rtnl_neigh_get_ifindex(n) != ifindex || rtnl_neigh_get_family(n) != AF_INET ||
        (rtnl_neigh_get_state(n) & NUD_PERMANENT) == 0) {
      return;
    }
    auto ip = toIpv4(rtnl_neigh_get_dst(n));
    if (!ip) return;
    Neighbor neighbor;
    neighbor.ip = *ip;
    neighbor.hwAddr = toMac(rtnl_neigh_get_lladdr(n));
    neighbor.dev = ifname;
    neighbor.state = NUD_PERMANENT;
    out.push_back(neighbor);
  });
  return out;
}

Status RouteSocket::addNeighbor(const Neighbor& neighbor) {
  std::string description =
      fmt::format("adding neighbour {} lladdr {} dev {}", neighbor.ip.toString(),
                  neighbor.hwAddr ? neighbor.hwAddr->toString() : std::string("-"), neighbor.dev);
  if (neighbor.dev.empty() || !neighbor.hwAddr || neighbor.state == 0 ||
      neighbor.state == NUD_NONE) {
    return fail(Code::kInvalidArgument,
                description + ": a neighbour needs a device, a hardware address and a state");
  }
  auto l = link(neighbor.dev);
  if (!l) return fail(l.error().wrap(description));
  NeighPtr n(rtnl_neigh_alloc());
  AddrPtr dst = makeIpv4(neighbor.ip);
  AddrPtr lladdr = makeMac(*neighbor.hwAddr);
  if (!n || !dst || !lladdr) return fail(Code::kResourceExhausted, "allocating a neighbour");
  rtnl_neigh_set_ifindex(n.get(), l->index);
  rtnl_neigh_set_dst(n.get(), dst.get());
  rtnl_neigh_set_lladdr(n.get(), lladdr.get());
  rtnl_neigh_set_state(n.get(), neighbor.state);
  if (int err = rtnl_neigh_add(sock_, n.get(), NLM_F_CREATE | NLM_F_REPLACE); err < 0) {
    return fail(nlError(err, description, netnsPath_));
  }
  return {};
}

Status RouteSocket::addRedirect(const LinkInfo& from, const LinkInfo& to) {
  QdiscPtr qdisc(rtnl_qdisc_alloc());
  if (!qdisc) return fail(Code::kResourceExhausted, "allocating a qdisc");
  rtnl_tc_set_ifindex(TC_CAST(qdisc.get()), from.index);
  rtnl_tc_set_parent(TC_CAST(qdisc.get()), TC_H_INGRESS);
  rtnl_tc_set_handle(TC_CAST(qdisc.get()), TC_HANDLE(0xffff, 0));
  rtnl_tc_set_kind(TC_CAST(qdisc.get()), "ingress");
  // No NLM_F_EXCL: an ingress qdisc left by an interrupted setup is reused, not an error.
  if (int err = rtnl_qdisc_add(sock_, qdisc.get(), NLM_F_CREATE); err < 0) {
    return fail(nlError(err, fmt::format("adding ingress qdisc to {}", from.name), netnsPath_));
  }

  ClsPtr cls(rtnl_cls_alloc());
  ActPtr act(rtnl_act_alloc());
  if (!cls || !act) return fail(Code::kResourceExhausted, "allocating a tc filter");
  rtnl_tc_set_ifindex(TC_CAST(cls.get()), from.index);
  rtnl_tc_set_parent(TC_CAST(cls.get()), TC_HANDLE(0xffff, 0));
  if (int err = rtnl_tc_set_kind(TC_CAST(cls.get()), "u32"); err < 0) {
    return fail(nlError(err, "selecting the u32 classifier", netnsPath_));
  }
  rtnl_cls_set_protocol(cls.get(), ETH_P_ALL);
  // One key with mask 0 at offset 0 matches every packet.
  rtnl_u32_add_key_uint32(cls.get(), 0, 0, 0, 0);
  rtnl_u32_set_cls_terminal(cls.get());
  if (int err = rtnl_tc_set_kind(TC_CAST(act.get()), "mirred"); err < 0) {
    return fail(nlError(err, "selecting the mirred action", netnsPath_));
  }
  rtnl_mirred_set_action(act.get(), TCA_EGRESS_REDIR);
  rtnl_mirred_set_policy(act.get(), TC_ACT_STOLEN);
  rtnl_mirred_set_ifindex(act.get(), static_cast<uint32_t>(to.index));
  rtnl_u32_add_action(cls.get(), act.get());  // takes its own reference
  if (int err = rtnl_cls_add(sock_, cls.get(), NLM_F_CREATE); err < 0) {
    return fail(
        nlError(err, fmt::format("adding tc redirect {} -> {}", from.name, to.name), netnsPath_));
  }
  return {};
}

Status RouteSocket::deleteIngressQdisc(const LinkInfo& link) {
  nl_cache* raw = nullptr;
  int err = rtnl_qdisc_alloc_cache(sock_, &raw);
  CachePtr cache(raw);
  if (err < 0) return fail(nlError(err, "listing qdiscs", netnsPath_));
  QdiscPtr ingress(rtnl_qdisc_get_by_parent(cache.get(), link.index, TC_H_INGRESS));
  if (!ingress) return {};
  if (err = rtnl_qdisc_delete(sock_, ingress.get()); err < 0 && !isNotFound(err)) {
    return fail(nlError(err, fmt::format("deleting ingress qdisc of {}", link.name), netnsPath_));
  }
  return {};
}

}  // namespace pp::podnetwork::netlink
