#include "podnetwork/testbed.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "podnetwork/command.h"
#include "podnetwork/netns.h"

namespace pp::podnetwork::testbed {
namespace {

constexpr const char* kIp = "/usr/sbin/ip";

// Opens a socket inside `netns`; the socket keeps that namespace for its whole life.
Result<int> socketIn(const std::string& netns, int domain, int type, int protocol) {
  auto ns = Netns::open(netnsPath(netns));
  if (!ns) return fail(ns.error());
  auto scope = NetnsScope::enter(*ns);
  if (!scope) return fail(scope.error());
  int fd = ::socket(domain, type | SOCK_CLOEXEC, protocol);
  if (fd < 0) {
    return fail(Code::kInternal, fmt::format("socket in {}: {}", netns, std::strerror(errno)));
  }
  return fd;
}

sockaddr_in toSockaddr(Ipv4Address addr, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(addr.value);
  return sa;
}

uint16_t checksum(const uint8_t* data, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(data[i] << 8 | data[i + 1]);
  if (len % 2) sum += static_cast<uint32_t>(data[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

std::string linkNames(const std::string& ipOutput) {
  // "3: eth0@if4: <...> ..." -> "eth0"; statistics and states are left out on purpose.
  std::istringstream in(ipOutput);
  std::string line, out;
  while (std::getline(in, line)) {
    size_t a = line.find(": ");
    if (a == std::string::npos) continue;
    size_t b = line.find_first_of("@:", a + 2);
    out += line.substr(a + 2, b - a - 2) + "\n";
  }
  return out;
}

}  // namespace

Result<std::string> runIn(const std::string& netns, std::vector<std::string> argv) {
  std::vector<std::string> full{kIp, "netns", "exec", netns};
  full.insert(full.end(), argv.begin(), argv.end());
  auto result = runCommand(full, "");
  if (!result) return fail(result.error());
  if (result->exitCode != 0) {
    std::string joined;
    for (const auto& a : full) joined += a + " ";
    return fail(Code::kInternal,
                fmt::format("{}exited with {}: {}", joined, result->exitCode, result->err));
  }
  return std::move(result->out);
}

Status Testbed::run(const std::vector<std::string>& argv) {
  auto result = runCommand(argv, "");
  if (!result) return fail(result.error());
  if (result->exitCode != 0) {
    std::string joined;
    for (const auto& a : argv) joined += a + " ";
    return fail(Code::kInternal, fmt::format("testbed: {}exited with {}: {}", joined,
                                             result->exitCode, result->err));
  }
  return {};
}

Status Testbed::addNetns(const std::string& name) {
  if (auto s = run({kIp, "netns", "add", name}); !s) return s;
  created_.push_back(name);
  return run({kIp, "-n", name, "link", "set", "lo", "up"});
}

Result<std::unique_ptr<Testbed>> Testbed::create(int pods, bool vms) {
  if (pods < 1 || pods > 50) return fail(Code::kInvalidArgument, "testbed: 1 to 50 pods");
  std::unique_ptr<Testbed> tb(new Testbed());
  tb->prefix_ = fmt::format("pptest-{}-", getpid());
  const std::string br = tb->prefix_ + "br";
  tb->worker_ = tb->prefix_ + "wn";
  std::vector<std::vector<std::string>> steps;
  auto ip = [&](const std::string& ns, std::vector<std::string> args) {
    std::vector<std::string> cmd{kIp, "-n", ns};
    cmd.insert(cmd.end(), args.begin(), args.end());
    steps.push_back(std::move(cmd));
  };

  for (const std::string& ns : {br, tb->worker_}) {
    if (auto s = tb->addNetns(ns); !s) return fail(s.error());
  }
  // Underlay: br0 in the bridge namespace, the worker's eth0 on it.
  ip(br, {"link", "add", "br0", "type", "bridge"});
  ip(br, {"addr", "add", "198.18.0.1/24", "dev", "br0"});
  ip(br, {"link", "set", "br0", "up"});
  ip(br, {"link", "add", "wn", "type", "veth", "peer", "name", "eth0", "netns", tb->worker_});
  ip(br, {"link", "set", "wn", "master", "br0", "up"});
  ip(tb->worker_, {"addr", "add", "198.18.0.2/24", "dev", "eth0"});
  ip(tb->worker_, {"link", "set", "eth0", "up"});
  ip(tb->worker_, {"route", "add", "default", "via", "198.18.0.1"});
  // The CNI bridge on the worker, the pods' gateway.
  ip(tb->worker_, {"link", "add", "cni0", "type", "bridge"});
  ip(tb->worker_, {"addr", "add", "198.19.1.1/24", "dev", "cni0"});
  ip(tb->worker_, {"link", "set", "cni0", "up"});

  for (int i = 1; i <= pods; ++i) {
    PodSite site;
    site.podNetns = fmt::format("{}pod{}", tb->prefix_, i);
    site.podIp = *Ipv4Prefix::parse(fmt::format("198.19.1.{}/24", 10 + i));
    site.vmNetns = fmt::format("{}vm{}", tb->prefix_, i);
    site.vmPodNetns = fmt::format("{}vm{}pod", tb->prefix_, i);
    site.vmIp = *Ipv4Address::parse(fmt::format("198.18.0.{}", 10 + i));
    if (auto s = tb->addNetns(site.podNetns); !s) return fail(s.error());
    std::string veth = fmt::format("veth-pod{}", i);
    ip(tb->worker_,
       {"link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", site.podNetns});
    ip(tb->worker_, {"link", "set", veth, "master", "cni0", "up"});
    ip(site.podNetns, {"link", "set", "eth0", "mtu", "1450"});
    ip(site.podNetns, {"addr", "add", site.podIp.toString(), "dev", "eth0"});
    ip(site.podNetns, {"link", "set", "eth0", "up"});
    ip(site.podNetns, {"route", "add", "default", "via", "198.19.1.1"});
    if (vms) {
      for (const std::string& ns : {site.vmNetns, site.vmPodNetns}) {
        if (auto s = tb->addNetns(ns); !s) return fail(s.error());
      }
      std::string port = fmt::format("vm{}", i);
      ip(br, {"link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", site.vmNetns});
      ip(br, {"link", "set", port, "master", "br0", "up"});
      ip(site.vmNetns, {"addr", "add", site.vmIp.toString() + "/24", "dev", "eth0"});
      ip(site.vmNetns, {"link", "set", "eth0", "up"});
      ip(site.vmNetns, {"route", "add", "default", "via", "198.18.0.1"});
    }
    tb->pods_.push_back(site);
  }
  for (const auto& step : steps) {
    if (auto s = tb->run(step); !s) return fail(s.error());
  }
  // A permanent neighbour entry for the gateway, as some CNIs install, to check they travel.
  auto cni = runIn(tb->worker_, {"cat", "/sys/class/net/cni0/address"});
  if (!cni) return fail(cni.error());
  std::string mac = cni->substr(0, cni->find('\n'));
  for (const PodSite& site : tb->pods_) {
    if (auto s = tb->run({kIp, "-n", site.podNetns, "neigh", "replace", "198.19.1.1", "lladdr", mac,
                          "dev", "eth0", "nud", "permanent"});
        !s) {
      return fail(s.error());
    }
  }
  return tb;
}

Testbed::~Testbed() {
  // Deleting a namespace removes its links, qdiscs and iptables rules with it.
  for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
    (void)run({kIp, "netns", "del", *it});
  }
}

std::vector<std::string> Testbed::allNetns() const {
  return created_;
}

Status Testbed::deletePodNetns(size_t index) {
  const std::string& name = pods_.at(index).podNetns;
  if (auto s = run({kIp, "netns", "del", name}); !s) return s;
  std::erase(created_, name);
  return {};
}

Result<std::string> Testbed::snapshot() const {
  std::string out;
  for (const std::string& ns : created_) {
    auto links = runIn(ns, {kIp, "-o", "link", "show"});
    if (!links) return fail(links.error());
    auto qdiscs = runIn(ns, {"/usr/sbin/tc", "qdisc", "show"});
    if (!qdiscs) return fail(qdiscs.error());
    auto rules = runIn(ns, {"/usr/sbin/iptables", "-w", "-t", "raw", "-S"});
    if (!rules) return fail(rules.error());
    out += fmt::format("== {}\n-- links\n{}-- qdiscs\n{}-- raw\n{}", ns, linkNames(*links), *qdiscs,
                       *rules);
  }
  return out;
}

Result<std::unique_ptr<TcpResponder>> TcpResponder::start(const std::string& netns,
                                                          Ipv4Address addr, uint16_t port,
                                                          std::string reply) {
  auto fd = socketIn(netns, AF_INET, SOCK_STREAM, 0);
  if (!fd) return fail(fd.error());
  std::unique_ptr<TcpResponder> r(new TcpResponder());
  r->fd_ = *fd;
  r->reply_ = std::move(reply);
  int one = 1;
  setsockopt(r->fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa = toSockaddr(addr, port);
  if (bind(r->fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 || listen(r->fd_, 16) != 0) {
    return fail(Code::kInternal, fmt::format("listening on {}:{} in {}: {}", addr.toString(), port,
                                             netns, std::strerror(errno)));
  }
  r->stopFd_ = eventfd(0, EFD_CLOEXEC);
  r->thread_ = std::thread([raw = r.get()] {
    while (true) {
      pollfd fds[2] = {{raw->fd_, POLLIN, 0}, {raw->stopFd_, POLLIN, 0}};
      if (poll(fds, 2, -1) < 0 && errno != EINTR) return;
      if (fds[1].revents) return;
      if (!fds[0].revents) continue;
      int conn = accept4(raw->fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) continue;
      (void)!write(conn, raw->reply_.data(), raw->reply_.size());
      close(conn);
    }
  });
  return r;
}

TcpResponder::~TcpResponder() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    (void)!write(stopFd_, &one, sizeof(one));
    thread_.join();
  }
  if (fd_ >= 0) close(fd_);
  if (stopFd_ >= 0) close(stopFd_);
}

Result<std::string> tcpFetch(const std::string& netns, Ipv4Address dst, uint16_t port,
                             std::chrono::milliseconds timeout) {
  auto fd = socketIn(netns, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (!fd) return fail(fd.error());
  auto closer = std::unique_ptr<int, void (*)(int*)>(&*fd, [](int* f) { close(*f); });
  auto what = fmt::format("TCP {} -> {}:{}", netns, dst.toString(), port);
  sockaddr_in sa = toSockaddr(dst, port);
  if (connect(*fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 && errno != EINPROGRESS) {
    return fail(Code::kUnavailable, fmt::format("{}: {}", what, std::strerror(errno)));
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string data;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return fail(Code::kDeadlineExceeded, what + ": timed out");
    pollfd p{*fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[256];
    ssize_t n = read(*fd, buf, sizeof(buf));
    if (n > 0) {
      data.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      return data;
    } else if (errno != EAGAIN && errno != EINTR) {
      return fail(Code::kUnavailable, fmt::format("{}: {}", what, std::strerror(errno)));
    }
  }
}

Status ping(const std::string& netns, Ipv4Address dst, std::chrono::milliseconds timeout) {
  auto fd = socketIn(netns, AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMP);
  if (!fd) return fail(fd.error());
  auto closer = std::unique_ptr<int, void (*)(int*)>(&*fd, [](int* f) { close(*f); });
  auto what = fmt::format("ping {} -> {}", netns, dst.toString());
  const uint16_t id = static_cast<uint16_t>(getpid() ^ 0x5050);
  static std::atomic<uint16_t> sequence{1};
  const uint16_t seq = sequence++;
  uint8_t packet[16] = {ICMP_ECHO,
                        0,
                        0,
                        0,
                        static_cast<uint8_t>(id >> 8),
                        static_cast<uint8_t>(id),
                        static_cast<uint8_t>(seq >> 8),
                        static_cast<uint8_t>(seq),
                        'p',
                        'p',
                        't',
                        'e',
                        's',
                        't',
                        '!',
                        '!'};
  uint16_t sum = checksum(packet, sizeof(packet));
  packet[2] = static_cast<uint8_t>(sum >> 8);
  packet[3] = static_cast<uint8_t>(sum);
  sockaddr_in sa = toSockaddr(dst, 0);
  if (sendto(*fd, packet, sizeof(packet), 0, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) {
    return fail(Code::kUnavailable, fmt::format("{}: {}", what, std::strerror(errno)));
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return fail(Code::kDeadlineExceeded, what + ": no reply");
    pollfd p{*fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    uint8_t buf[1500];
    sockaddr_in from{};
    socklen_t fromLen = sizeof(from);
    ssize_t n = recvfrom(*fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &fromLen);
    if (n < 20) continue;
    size_t ihl = static_cast<size_t>(buf[0] & 0x0f) * 4;
    if (static_cast<size_t>(n) < ihl + 8) continue;
    const uint8_t* icmp = buf + ihl;
    if (icmp[0] == ICMP_ECHOREPLY && ntohl(from.sin_addr.s_addr) == dst.value &&
        (icmp[4] << 8 | icmp[5]) == id && (icmp[6] << 8 | icmp[7]) == seq) {
      return {};
    }
  }
}

}  // namespace pp::podnetwork::testbed
