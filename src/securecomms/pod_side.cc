#include "securecomms/pod_side.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>

#include "base/files.h"
#include "base/log.h"

namespace pp::securecomms {
namespace {

constexpr char kLog[] = "securecomms";
constexpr size_t kMaxResponse = 64 * 1024;

bool sleepFor(std::stop_token st, std::chrono::milliseconds d) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  cv.wait_for(lock, st, d, [] { return false; });
  return !st.stop_requested();
}

Result<std::vector<Tag>> tagsOf(std::vector<std::string> lists) {
  std::string all;
  for (auto& l : lists) {
    if (l.empty()) continue;
    if (!all.empty()) all += ',';
    all += l;
  }
  return parseTags(all);
}

}  // namespace

Result<std::string> fetchCdhResource(const std::string& base, const std::string& name) {
  // base: http://A.B.C.D:PORT
  std::string_view b = base;
  if (!b.starts_with("http://"))
    return fail(Code::kInvalidArgument, "api-server-rest: want http://");
  b.remove_prefix(7);
  size_t colon = b.rfind(':');
  if (colon == std::string_view::npos)
    return fail(Code::kInvalidArgument, "api-server-rest: no port");
  std::string host(b.substr(0, colon));
  int port = std::atoi(std::string(b.substr(colon + 1)).c_str());
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (port <= 0 || port > 65535 || inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
    return fail(Code::kInvalidArgument, "api-server-rest: want http://IPv4:port");
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(Code::kInternal, std::string("socket: ") + strerror(errno));
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    int err = errno;
    close(fd);
    return fail(Code::kUnavailable, fmt::format("api-server-rest {}: {}", base, strerror(err)));
  }
  std::string path = "/cdh/resource/default/" + name;
  std::string req =
      fmt::format("GET {} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\nAccept: */*\r\n\r\n",
                  path, host, port);
  if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    close(fd);
    return fail(Code::kUnavailable, "api-server-rest: sending the request failed");
  }
  std::string resp;
  char buf[8192];
  while (resp.size() <= kMaxResponse) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (resp.size() > kMaxResponse)
    return fail(Code::kResourceExhausted, "api-server-rest: answer over 64 KiB");
  size_t headerEnd = resp.find("\r\n\r\n");
  if (!resp.starts_with("HTTP/1.") || resp.size() < 12 || headerEnd == std::string::npos) {
    return fail(Code::kUnavailable, "api-server-rest: not an HTTP answer");
  }
  std::string status = resp.substr(9, 3);
  if (status != "200") {
    return fail(Code::kUnavailable, fmt::format("api-server-rest GET {}: HTTP {}", path, status));
  }
  std::string headers = resp.substr(0, headerEnd);
  std::string body = resp.substr(headerEnd + 4);
  // Chunked answers are not expected from api-server-rest; refuse rather than misread them.
  std::string lower = headers;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find("transfer-encoding: chunked") != std::string::npos) {
    return fail(Code::kUnimplemented, "api-server-rest: chunked answers are not supported");
  }
  if (auto cl = lower.find("content-length:"); cl != std::string::npos) {
    size_t len = std::strtoul(lower.c_str() + cl + 15, nullptr, 10);
    if (len > body.size()) return fail(Code::kUnavailable, "api-server-rest: answer cut short");
    body.resize(len);
  }
  return body;
}

Result<std::unique_ptr<SshServer>> startPodSide(const PodSideOptions& o) {
  // O_EXCL: of two forwarders started at once, exactly one gets the marker.
  int marker = open(o.singletonPath.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (marker < 0) {
    if (errno == EEXIST) {
      return fail(Code::kFailedPrecondition,
                  "SSH service runs in singleton mode and cannot be executed twice (" +
                      o.singletonPath + " exists: secure comms already started in this boot)");
    }
    return fail(Code::kInternal,
                fmt::format("singleton marker {}: {}", o.singletonPath, strerror(errno)));
  }
  close(marker);
  auto inbounds = tagsOf(
      {fmt::format("BOTH_PHASES:{}:{}", kKbsTunnel, o.kbsPort), o.flagInbounds, o.apfInbounds});
  if (!inbounds) return fail(inbounds.error().wrap("inbound tags"));
  auto outbounds = tagsOf({fmt::format("KUBERNETES_PHASE:{}:{}", kAgentTunnel, o.forwarderPort),
                           o.flagOutbounds, o.apfOutbounds});
  if (!outbounds) return fail(outbounds.error().wrap("outbound tags"));

  ServerOptions so;
  so.listenHost = o.sshListenHost;
  so.port = o.sshPort;
  so.inbounds = std::move(*inbounds);
  so.outbounds = std::move(*outbounds);
  so.ephemeralKeyBits = o.ephemeralKeyBits;
  so.timing = o.timing;
  if (auto unproven = files::readFile(o.unprovenWnPublicKeyPath, 16 * 1024); unproven) {
    so.unprovenClientPublicKey = *unproven;
  }
  if (!o.keysFromKbs) {
    if (o.ppPrivateKey.empty() || o.wnPublicKey.empty()) {
      return fail(Code::kInvalidArgument,
                  "secure comms without the key broker needs sc-pp-prv and sc-wn-pub in apf.json");
    }
    KubernetesKeys keys{o.ppPrivateKey, o.wnPublicKey};
    so.fetchKeys = [keys](std::stop_token) -> Result<KubernetesKeys> { return keys; };
  } else {
    so.fetchKeys = [o](std::stop_token st) -> Result<KubernetesKeys> {
      // This thread is the key fetch's own: it may enter the pod's network namespace.
      if (!o.keyFetchNetns.empty()) {
        int ns = open(o.keyFetchNetns.c_str(), O_RDONLY | O_CLOEXEC);
        if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
          int err = errno;
          if (ns >= 0) close(ns);
          return fail(Code::kUnavailable,
                      fmt::format("entering {}: {}", o.keyFetchNetns, strerror(err)));
        }
        close(ns);
      }
      auto deadline = std::chrono::steady_clock::now() + o.keyFetchTimeout;
      KubernetesKeys keys;
      for (auto [name, out] : {std::pair{kWnPublicKeyName, &keys.clientPublicKey},
                               std::pair{kPpPrivateKeyName, &keys.hostPrivateKeyPem}}) {
        log::info(kLog, "PpSecrets obtaining key {}", name);
        std::chrono::milliseconds delay{1000};
        while (true) {
          auto got = fetchCdhResource(o.apiServerRest, name);
          if (got && !got->empty()) {
            log::info(kLog, "PpSecrets {} success", name);
            *out = std::move(*got);
            break;
          }
          log::info(kLog, "PpSecrets {} getSecret err: {}", name,
                    got ? "empty secret" : got.error().message);
          if (std::chrono::steady_clock::now() + delay > deadline) {
            return fail(Code::kDeadlineExceeded,
                        fmt::format("no key {} from the key broker within {} s", name,
                                    o.keyFetchTimeout.count() / 1000));
          }
          if (!sleepFor(st, delay)) return fail(Code::kCancelled, "stopped");
          delay = std::min(delay * 2, o.keyFetchDelayMax);
        }
      }
      // Checked here so that a bad key fails the fetch, not the Kubernetes phase later.
      if (auto pub = publicKeyOf(keys.hostPrivateKeyPem); !pub)
        return fail(pub.error().wrap(kPpPrivateKeyName));
      if (auto pub = normalizePublicKey(keys.clientPublicKey); !pub)
        return fail(pub.error().wrap(kWnPublicKeyName));
      return keys;
    };
  }
  return SshServer::start(std::move(so));
}

}  // namespace pp::securecomms
