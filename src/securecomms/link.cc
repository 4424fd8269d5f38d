// The per-connection loop: libssh in non-blocking mode under an ssh_event that also polls the
// local sockets of the tunnels. Callbacks only record what happened; the loop body does the work,
// so libssh is never re-entered from a callback except to answer the message at hand.
#include "securecomms/link.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libssh/callbacks.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "base/log.h"

namespace pp::securecomms {
namespace {

constexpr char kLog[] = "securecomms";
constexpr size_t kChunk = 32 * 1024;
constexpr size_t kMaxPendingToLocal = 256 * 1024;
constexpr size_t kMaxControlLine = 256;

using Clock = std::chrono::steady_clock;

std::string sshError(void* s) {
  const char* e = ssh_get_error(s);
  return e && *e ? e : "unknown SSH error";
}

}  // namespace

std::string_view linkPhaseName(LinkPhase phase) {
  return phase == LinkPhase::kAttestation ? "ATTESTATION" : "KUBERNETES";
}

bool phaseAllows(TagPhase tag, LinkPhase link) {
  if (tag == TagPhase::kBoth) return true;
  return (tag == TagPhase::kAttestation) == (link == LinkPhase::kAttestation);
}

// ---------------------------------------------------------------------------------------------
// Sockets.

Result<int> listenTcp(const std::string& host, uint16_t port, const std::string& netns) {
  auto make = [&]() -> Result<int> {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
      return fail(Code::kInvalidArgument, "listen address '" + host + "' is not an IPv4 address");
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return fail(Code::kInternal, std::string("socket: ") + strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(fd, 64) != 0) {
      int err = errno;
      close(fd);
      return fail(Code::kUnavailable,
                  fmt::format("listening on {}:{}: {}", host, port, strerror(err)));
    }
    return fd;
  };
  if (netns.empty()) return make();
  // A socket belongs to the namespace it was made in: make it on a thread of its own that enters
  // the namespace, so that no other thread of the daemon changes namespace.
  Result<int> out = fail(Code::kInternal, "not run");
  std::thread([&] {
    std::string path = "/run/netns/" + netns;
    int nsfd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) {
      out = fail(Code::kNotFound, fmt::format("network namespace {}: {}", path, strerror(errno)));
      return;
    }
    if (setns(nsfd, CLONE_NEWNET) != 0) {
      out = fail(Code::kPermissionDenied,
                 fmt::format("entering network namespace {}: {}", path, strerror(errno)));
      close(nsfd);
      return;
    }
    close(nsfd);
    out = make();
  }).join();
  return out;
}

uint16_t localPort(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) return 0;
  return ntohs(sa.sin_port);
}

Result<int> startConnect(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string h = host.empty() ? "127.0.0.1" : host;
  int rc = getaddrinfo(h.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    return fail(Code::kUnavailable, fmt::format("resolving {}: {}", h, gai_strerror(rc)));
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    freeaddrinfo(res);
    return fail(Code::kInternal, std::string("socket: ") + strerror(errno));
  }
  rc = connect(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc != 0 && errno != EINPROGRESS) {
    int err = errno;
    close(fd);
    return fail(Code::kUnavailable, fmt::format("connecting to {}:{}: {}", h, port, strerror(err)));
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// ---------------------------------------------------------------------------------------------

struct Link::Tunnel {
  enum class State { kOpening, kConnecting, kOpen };
  std::string name;
  State state = State::kOpen;
  ssh_channel ch = nullptr;
  int fd = -1;
  uint16_t originPort = 0;
  Clock::time_point since = Clock::now();
  std::string toLocal;
  bool localReadEof = false;
  bool localWriteShut = false;
  bool dead = false;
};

Link::Link(bool isServer, LinkPhase phase, std::vector<InboundListener*> inbounds,
           std::vector<Tag> outbounds, LinkTiming timing)
    : isServer_(isServer),
      phase_(phase),
      inbounds_(std::move(inbounds)),
      outbounds_(std::move(outbounds)),
      timing_(timing),
      session_(ssh_new()) {
  bool no = false;
  ssh_options_set(session_.get(), SSH_OPTIONS_PROCESS_CONFIG, &no);
  ssh_set_message_callback(session_.get(), &Link::onMessage, this);
}

Link::~Link() {
  for (auto& t : tunnels_) closeTunnel(*t);
  tunnels_.clear();
  if (control_) ssh_channel_free(control_);
  if (pendingControl_ && pendingControl_ != control_) ssh_channel_free(pendingControl_);
}

int Link::onAuthNone(ssh_session, const char*, void* self) {
  auto* link = static_cast<Link*>(self);
  if (link->allowedClientKey_ != nullptr) return SSH_AUTH_DENIED;
  link->authenticated_ = true;
  return SSH_AUTH_SUCCESS;
}

int Link::onAuthPubkey(ssh_session, const char*, ssh_key key, char state, void* self) {
  auto* link = static_cast<Link*>(self);
  if (link->allowedClientKey_ == nullptr) {
    // No client authentication in this phase: any key will do.
    if (state == SSH_PUBLICKEY_STATE_VALID) link->authenticated_ = true;
    return state == SSH_PUBLICKEY_STATE_WRONG ? SSH_AUTH_DENIED : SSH_AUTH_SUCCESS;
  }
  if (ssh_key_cmp(key, link->allowedClientKey_, SSH_KEY_CMP_PUBLIC) != 0) {
    log::warn(kLog, "{} phase: a client offered a key that is not the worker node's",
              linkPhaseName(link->phase_));
    return SSH_AUTH_DENIED;
  }
  if (state == SSH_PUBLICKEY_STATE_NONE) return SSH_AUTH_SUCCESS;  // "would you take this key?"
  if (state != SSH_PUBLICKEY_STATE_VALID) return SSH_AUTH_DENIED;
  link->authenticated_ = true;
  return SSH_AUTH_SUCCESS;
}

Status Link::acceptServer(int fd, ssh_bind bind, ssh_key allowedClientKey) {
  allowedClientKey_ = allowedClientKey;
  ssh_callbacks_init(&serverCallbacks_);
  serverCallbacks_.userdata = this;
  serverCallbacks_.auth_none_function = &Link::onAuthNone;
  serverCallbacks_.auth_pubkey_function = &Link::onAuthPubkey;
  ssh_set_server_callbacks(session_.get(), &serverCallbacks_);
  if (ssh_bind_accept_fd(bind, session_.get(), fd) != SSH_OK) {
    close(fd);
    return fail(Code::kInternal, "SSH accept: " + sshError(bind));
  }
  long secs = std::max<long>(1, static_cast<long>(timing_.handshakeTimeout.count() / 1000));
  ssh_options_set(session_.get(), SSH_OPTIONS_TIMEOUT, &secs);
  ssh_set_auth_methods(session_.get(), allowedClientKey
                                           ? SSH_AUTH_METHOD_PUBLICKEY
                                           : SSH_AUTH_METHOD_NONE | SSH_AUTH_METHOD_PUBLICKEY);
  if (ssh_handle_key_exchange(session_.get()) != SSH_OK) {
    return fail(Code::kUnavailable, "SSH key exchange: " + sshError(session_.get()));
  }
  return {};
}

Result<LinkEnd> Link::connectClient(int fd, ssh_key clientKey, ssh_key expectedHostKey) {
  ssh_session s = session_.get();
  ssh_options_set(s, SSH_OPTIONS_FD, &fd);
  ssh_options_set(s, SSH_OPTIONS_HOST, "pod-vm");
  ssh_options_set(s, SSH_OPTIONS_USER, kSshUser);
  long secs = std::max<long>(1, static_cast<long>(timing_.handshakeTimeout.count() / 1000));
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &secs);
  if (ssh_connect(s) != SSH_OK) {
    return fail(Code::kUnavailable, "SSH handshake: " + sshError(s));
  }
  ssh_key hostKey = nullptr;
  if (ssh_get_server_publickey(s, &hostKey) != SSH_OK || hostKey == nullptr) {
    return fail(Code::kUnavailable, "SSH: the server sent no host key");
  }
  SshKeyPtr hostKeyOwner(hostKey);
  if (expectedHostKey != nullptr &&
      ssh_key_cmp(hostKey, expectedHostKey, SSH_KEY_CMP_PUBLIC) != 0) {
    return fail(Code::kUnauthenticated,
                "SSH: the server's host key is not the pod VM's key (Kubernetes phase refused)");
  }
  int rc = ssh_userauth_none(s, nullptr);
  if (rc != SSH_AUTH_SUCCESS) {
    if (clientKey == nullptr) return fail(Code::kUnauthenticated, "SSH: the server wants a key");
    rc = ssh_userauth_publickey(s, nullptr, clientKey);
    if (rc != SSH_AUTH_SUCCESS) {
      return fail(Code::kUnauthenticated,
                  "SSH: the server did not accept the worker node's key: " + sshError(s));
    }
  }
  control_ = ssh_channel_new(s);
  if (control_ == nullptr || ssh_channel_open_session(control_) != SSH_OK ||
      ssh_channel_request_subsystem(control_, kPhaseSubsystem) != SSH_OK) {
    return fail(Code::kUnavailable,
                std::string("SSH: the server refused the ") + kPhaseSubsystem + " channel");
  }
  std::string hello = fmt::format("PHASE {}\n", linkPhaseName(phase_));
  if (ssh_channel_write(control_, hello.data(), static_cast<uint32_t>(hello.size())) !=
      static_cast<int>(hello.size())) {
    return fail(Code::kUnavailable, "SSH: writing the phase: " + sshError(s));
  }
  auto deadline = Clock::now() + timing_.handshakeTimeout;
  while (controlIn_.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return fail(Code::kDeadlineExceeded, "SSH: no answer to the phase");
    char buf[kMaxControlLine];
    int n = ssh_channel_read_timeout(control_, buf, sizeof buf, 0,
                                     static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0 || (n == 0 && ssh_channel_is_eof(control_))) {
      return fail(Code::kUnavailable, "SSH: the server closed the phase channel");
    }
    controlIn_.append(buf, static_cast<size_t>(n));
    if (controlIn_.size() > kMaxControlLine) {
      return fail(Code::kUnavailable, "SSH: phase answer too long");
    }
  }
  std::string line = controlIn_.substr(0, controlIn_.find('\n'));
  controlIn_.erase(0, line.size() + 1);
  if (line == fmt::format("OK {}", linkPhaseName(phase_))) {
    phaseAgreed_ = true;
    ssh_set_blocking(s, 0);
    return LinkEnd::kStopped;  // "connected": the caller runs the link next
  }
  if (line == "PAST-ATTESTATION" && phase_ == LinkPhase::kAttestation) {
    return LinkEnd::kPastAttestation;
  }
  return fail(Code::kFailedPrecondition,
              "SSH: the server refused the phase: " + log::escapeControl(line));
}

// ---------------------------------------------------------------------------------------------

int Link::onMessage(ssh_session, ssh_message msg, void* self) {
  return static_cast<Link*>(self)->handleMessage(msg);
}

int Link::handleMessage(ssh_message msg) {
  int type = ssh_message_type(msg);
  int sub = ssh_message_subtype(msg);
  if (type == SSH_REQUEST_CHANNEL_OPEN) {
    if (isServer_ && sub == SSH_CHANNEL_SESSION && control_ == nullptr &&
        pendingControl_ == nullptr) {
      pendingControl_ = ssh_message_channel_request_open_reply_accept(msg);
      return pendingControl_ ? 0 : 1;
    }
    bool tunnelType =
        isServer_ ? sub == SSH_CHANNEL_DIRECT_TCPIP : sub == SSH_CHANNEL_FORWARDED_TCPIP;
    // The server opens tunnels only after the phase exchange; the client may see such a channel
    // in the same read as the server's answer, before it has parsed that answer.
    if (!tunnelType || (isServer_ && !phaseAgreed_)) return 1;
    const char* dest = ssh_message_channel_request_open_destination(msg);
    std::string name = dest ? dest : "";
    const Tag* out = nullptr;
    for (const auto& t : outbounds_) {
      if (t.name == name && phaseAllows(t.phase, phase_)) out = &t;
    }
    if (out == nullptr) {
      log::warn(kLog, "{} phase: the peer asked for tunnel '{}', which is not an outbound here",
                linkPhaseName(phase_), log::escapeControl(name.substr(0, 64)));
      return 1;
    }
    if (tunnels_.size() >= kMaxTunnels) {
      log::warn(kLog, "tunnel {}: {} tunnels open already, refused", name, kMaxTunnels);
      return 1;
    }
    auto fd = startConnect(out->hostOrNetns, out->port);
    if (!fd) {
      log::warn(kLog, "outbound tunnel {}: {}", name, fd.error().message);
      return 1;
    }
    ssh_channel ch = ssh_message_channel_request_open_reply_accept(msg);
    if (ch == nullptr) {
      close(*fd);
      return 0;
    }
    auto t = std::make_unique<Tunnel>();
    t->name = name;
    t->state = Tunnel::State::kConnecting;
    t->ch = ch;
    t->fd = *fd;
    tunnels_.push_back(std::move(t));
    return 0;
  }
  if (type == SSH_REQUEST_CHANNEL && sub == SSH_CHANNEL_REQUEST_SUBSYSTEM && isServer_) {
    ssh_channel ch = ssh_message_channel_request_channel(msg);
    const char* name = ssh_message_channel_request_subsystem(msg);
    if (ch != nullptr && ch == pendingControl_ && name && std::string(name) == kPhaseSubsystem) {
      control_ = pendingControl_;
      ssh_message_channel_request_reply_success(msg);
      return 0;
    }
    return 1;
  }
  return 1;  // anything else (shell, exec, pty, tcpip-forward, ...): refused
}

int Link::onFd(socket_t fd, int revents, void* self) {
  static_cast<Link*>(self)->revents_[fd] |= static_cast<short>(revents);
  return 0;
}

void Link::registerFds(ssh_event ev) {
  std::vector<std::pair<int, short>> want;
  if (phaseAgreed_) {
    for (auto* in : inbounds_) {
      if (phaseAllows(in->tag.phase, phase_)) want.push_back({in->fd, POLLIN});
    }
  }
  for (auto& t : tunnels_) {
    if (t->dead) continue;
    short events = 0;
    if (t->state == Tunnel::State::kConnecting) {
      events = POLLOUT;
    } else if (t->state == Tunnel::State::kOpen) {
      if (!t->localReadEof && ssh_channel_window_size(t->ch) > 0) events |= POLLIN;
      if (!t->toLocal.empty()) events |= POLLOUT;
    }
    if (events) want.push_back({t->fd, events});
  }
  if (want == registered_) return;
  unregisterFds(ev);
  for (auto& [fd, events] : want) ssh_event_add_fd(ev, fd, events, &Link::onFd, this);
  registered_ = std::move(want);
}

void Link::unregisterFds(ssh_event ev) {
  for (auto& [fd, events] : registered_) ssh_event_remove_fd(ev, fd);
  registered_.clear();
}

void Link::acceptInbound(InboundListener& in) {
  while (true) {
    int fd = accept4(in.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (tunnels_.size() >= kMaxTunnels) {
      log::warn(kLog, "inbound tunnel {}: {} tunnels open already, connection closed", in.tag.name,
                kMaxTunnels);
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto t = std::make_unique<Tunnel>();
    t->name = in.tag.name;
    t->state = Tunnel::State::kOpening;
    t->ch = ssh_channel_new(session_.get());
    t->fd = fd;
    t->originPort = in.port;
    tunnels_.push_back(std::move(t));
  }
}

void Link::closeTunnel(Tunnel& t) {
  if (t.fd >= 0) close(t.fd);
  t.fd = -1;
  if (t.ch != nullptr) {
    if (t.state != Tunnel::State::kOpening && !ssh_channel_is_closed(t.ch)) ssh_channel_close(t.ch);
    ssh_channel_free(t.ch);
    t.ch = nullptr;
  }
  t.dead = true;
}

void Link::progress(Tunnel& t) {
  short rev = 0;
  if (auto it = revents_.find(t.fd); it != revents_.end()) rev = it->second;
  if (t.state == Tunnel::State::kOpening) {
    int rc =
        isServer_
            ? ssh_channel_open_reverse_forward(t.ch, t.name.c_str(), 0, "127.0.0.1", t.originPort)
            : ssh_channel_open_forward(t.ch, t.name.c_str(), 0, "127.0.0.1", t.originPort);
    if (rc == SSH_AGAIN) return;
    if (rc != SSH_OK) {
      log::warn(kLog, "inbound tunnel {}: the peer refused the channel", t.name);
      closeTunnel(t);
      return;
    }
    t.state = Tunnel::State::kOpen;
  }
  if (t.state == Tunnel::State::kConnecting) {
    if (rev & (POLLOUT | POLLERR | POLLHUP)) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(t.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        log::warn(kLog, "outbound tunnel {}: {}", t.name, strerror(err));
        closeTunnel(t);
        return;
      }
      t.state = Tunnel::State::kOpen;
      rev = 0;
    } else {
      if (Clock::now() - t.since > timing_.dialTimeout) {
        log::warn(kLog, "outbound tunnel {}: connect timed out", t.name);
        closeTunnel(t);
      }
      return;
    }
  }
  char buf[kChunk];
  // local -> channel
  if ((rev & (POLLIN | POLLHUP | POLLERR)) && !t.localReadEof) {
    uint32_t window = ssh_channel_window_size(t.ch);
    if (window > 0) {
      ssize_t n = read(t.fd, buf, std::min<size_t>(window, sizeof buf));
      if (n > 0) {
        if (ssh_channel_write(t.ch, buf, static_cast<uint32_t>(n)) == SSH_ERROR) {
          closeTunnel(t);
          return;
        }
      } else if (n == 0) {
        ssh_channel_send_eof(t.ch);
        t.localReadEof = true;
      } else if (errno != EAGAIN && errno != EINTR) {
        closeTunnel(t);
        return;
      }
    }
  }
  // channel -> local
  while (t.toLocal.size() < kMaxPendingToLocal) {
    int n = ssh_channel_read_nonblocking(t.ch, buf, sizeof buf, 0);
    if (n > 0) {
      t.toLocal.append(buf, static_cast<size_t>(n));
    } else {
      if (n == SSH_ERROR) {
        closeTunnel(t);
        return;
      }
      break;
    }
  }
  if (!t.toLocal.empty()) {
    ssize_t w = write(t.fd, t.toLocal.data(), t.toLocal.size());
    if (w > 0) {
      t.toLocal.erase(0, static_cast<size_t>(w));
    } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
      closeTunnel(t);
      return;
    }
  }
  if (t.toLocal.empty() && !t.localWriteShut &&
      (ssh_channel_is_eof(t.ch) || ssh_channel_is_closed(t.ch))) {
    shutdown(t.fd, SHUT_WR);
    t.localWriteShut = true;
  }
  if ((t.localReadEof && t.localWriteShut) || (ssh_channel_is_closed(t.ch) && t.toLocal.empty())) {
    closeTunnel(t);
  }
}

bool Link::readControl(std::vector<std::string>& lines) {
  if (control_ == nullptr) return true;
  char buf[kMaxControlLine];
  while (true) {
    int n = ssh_channel_read_nonblocking(control_, buf, sizeof buf, 0);
    if (n == SSH_ERROR) return false;
    if (n <= 0) break;
    controlIn_.append(buf, static_cast<size_t>(n));
    if (controlIn_.size() > 4 * kMaxControlLine) return false;
  }
  size_t nl;
  while ((nl = controlIn_.find('\n')) != std::string::npos) {
    if (nl > kMaxControlLine) return false;
    lines.push_back(controlIn_.substr(0, nl));
    controlIn_.erase(0, nl + 1);
  }
  if (controlIn_.size() > kMaxControlLine) return false;
  return !(ssh_channel_is_eof(control_) || ssh_channel_is_closed(control_));
}

bool Link::writeControl(const std::string& line) {
  std::string data = line + "\n";
  return control_ != nullptr &&
         ssh_channel_write(control_, data.data(), static_cast<uint32_t>(data.size())) ==
             static_cast<int>(data.size());
}

LinkEnd Link::run(std::stop_token stop, std::function<bool()> upgradeReady) {
  ssh_session s = session_.get();
  ssh_set_blocking(s, 0);
  ssh_event ev = ssh_event_new();
  ssh_event_add_session(ev, s);
  auto start = Clock::now();
  auto lastHeard = Clock::now();
  auto lastPing = Clock::now();
  std::optional<Clock::time_point> upgradedAt;
  LinkEnd end = LinkEnd::kStopped;
  while (true) {
    if (stop.stop_requested()) {
      end = LinkEnd::kStopped;
      break;
    }
    registerFds(ev);
    revents_.clear();
    if (ssh_event_dopoll(ev, 100) == SSH_ERROR || !ssh_is_connected(s)) {
      end = upgradeSent_ ? LinkEnd::kUpgraded : LinkEnd::kPeerGone;
      break;
    }
    auto now = Clock::now();
    // The phase channel.
    std::vector<std::string> lines;
    if (!readControl(lines)) {
      end = upgradeSent_ ? LinkEnd::kUpgraded : LinkEnd::kPeerGone;
      break;
    }
    bool finished = false;
    for (const auto& line : lines) {
      lastHeard = now;
      if (isServer_) {
        if (!phaseAgreed_) {
          if (line == fmt::format("PHASE {}", linkPhaseName(phase_))) {
            phaseAgreed_ = writeControl(fmt::format("OK {}", linkPhaseName(phase_)));
            log::info(kLog, "{} phase: client connected", linkPhaseName(phase_));
          } else if (line == "PHASE ATTESTATION" && phase_ == LinkPhase::kKubernetes) {
            writeControl("PAST-ATTESTATION");
            finished = true;
            end = LinkEnd::kRefused;
          } else {
            log::warn(kLog, "{} phase: the client sent '{}' as its phase; closing",
                      linkPhaseName(phase_), log::escapeControl(line.substr(0, 64)));
            writeControl("ERROR phase mismatch");
            finished = true;
            end = LinkEnd::kRefused;
          }
        } else if (line == "PING") {
          writeControl("PONG");
        } else {
          finished = true;
          end = LinkEnd::kRefused;
        }
      } else {
        if (line == "UPGRADE" && phase_ == LinkPhase::kAttestation) {
          log::info(kLog, "Attestation phase: the pod VM asks to upgrade to the Kubernetes phase");
          finished = true;
          end = LinkEnd::kUpgraded;
        } else if (line != "PONG") {
          finished = true;
          end = LinkEnd::kRefused;
        }
      }
    }
    if (finished) break;
    if (!phaseAgreed_ && now - start > timing_.handshakeTimeout) {
      log::warn(kLog, "{} phase: no phase exchange within the handshake timeout; closing",
                linkPhaseName(phase_));
      end = LinkEnd::kRefused;
      break;
    }
    if (!isServer_ && now - lastPing >= timing_.pingInterval) {
      writeControl("PING");
      lastPing = now;
    }
    if (phaseAgreed_ && now - lastHeard > timing_.deadAfter) {
      log::warn(kLog, "{} phase: nothing from the peer for {} ms; dropping the link",
                linkPhaseName(phase_), timing_.deadAfter.count());
      end = upgradeSent_ ? LinkEnd::kUpgraded : LinkEnd::kPeerGone;
      break;
    }
    if (isServer_ && phaseAgreed_ && phase_ == LinkPhase::kAttestation && !upgradeSent_ &&
        upgradeReady && upgradeReady()) {
      upgradeSent_ = writeControl("UPGRADE");
      upgradedAt = now;
      log::info(kLog, "Attestation phase: keys ready, sent Upgrade");
    }
    if (upgradedAt && now - *upgradedAt > timing_.handshakeTimeout) {
      end = LinkEnd::kUpgraded;
      break;
    }
    // Tunnels.
    for (auto* in : inbounds_) {
      if (phaseAgreed_ && phaseAllows(in->tag.phase, phase_) && (revents_[in->fd] & POLLIN)) {
        acceptInbound(*in);
      }
    }
    for (auto& t : tunnels_) {
      if (!t->dead) progress(*t);
    }
    tunnels_.remove_if([](const std::unique_ptr<Tunnel>& t) { return t->dead; });
  }
  unregisterFds(ev);
  ssh_blocking_flush(s, 1000);
  ssh_event_remove_session(ev, s);
  ssh_event_free(ev);
  for (auto& t : tunnels_) closeTunnel(*t);
  tunnels_.clear();
  return end;
}

}  // namespace pp::securecomms
