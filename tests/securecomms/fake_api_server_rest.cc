// fake-api-server-rest: a stand-in for the confidential data hub's api-server-rest in the pod VM
// image of `scripts/e2e docker-securecomms-kbs` (installed there as
// /usr/local/bin/api-server-rest). Like upstream's unit it runs in the pod network namespace
// (podvm/files/init starts it there) and listens on 127.0.0.1:8006; it answers
// GET /cdh/resource/<repo>/<type>/<tag> with what GET /kbs/v0/resource/<repo>/<type>/<tag>
// returns from the key broker. The real one asks the data hub, which attests the VM to the
// broker first; this one asks the broker directly, in the network namespace of PID 1 (the VM's
// own), where the forwarder's KBS inbound tunnel listens on 127.0.0.1:8080.
//
//   api-server-rest [--features all] [--listen IP:PORT] [--kbs IP:PORT] [--kbs-netns PATH]
//
// The listener is bound in the namespace the program starts in; then the process enters
// --kbs-netns ("" = stay), so every connection to the broker is made there. One request per
// connection, handled one at a time with 10 s timeouts; requests and answers are bounded
// (8 KiB of request head, 64 KiB of resource). The log names paths and sizes, never contents.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace {

constexpr size_t kMaxHead = 8 * 1024;
constexpr size_t kMaxResource = 64 * 1024;
constexpr int kTimeoutSeconds = 10;

void logf(const std::string& line) {
  std::fprintf(stderr, "api-server-rest: %s\n", line.c_str());
}

std::optional<sockaddr_in> parseAddress(const std::string& s) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon + 1 == s.size() || s.size() - colon - 1 > 5) {
    return std::nullopt;
  }
  unsigned port = 0;
  for (char c : s.substr(colon + 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (port == 0 || port > 65535 ||
      inet_pton(AF_INET, s.substr(0, colon).c_str(), &sa.sin_addr) != 1)
    return std::nullopt;
  return sa;
}

void setTimeouts(int fd) {
  timeval tv{kTimeoutSeconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// One path segment of a resource URI: [A-Za-z0-9_.-]+, not "." or "..".
bool validSegment(std::string_view s) {
  if (s.empty() || s == "." || s == "..") return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// "/cdh/resource/R/T/G" -> "R/T/G"; nullopt for anything else.
std::optional<std::string> resourceOf(std::string_view path) {
  constexpr std::string_view prefix = "/cdh/resource/";
  if (!path.starts_with(prefix)) return std::nullopt;
  std::string_view rest = path.substr(prefix.size());
  std::string_view r = rest;
  for (int i = 0; i < 3; ++i) {
    size_t slash = r.find('/');
    std::string_view seg = i < 2 ? r.substr(0, slash) : r;
    if (!validSegment(seg) || (i < 2 && slash == std::string_view::npos)) return std::nullopt;
    if (i < 2) r.remove_prefix(slash + 1);
  }
  return std::string(rest);
}

struct Answer {
  int status;
  std::string body;
};

// GET /kbs/v0/resource/<resource> from the broker: its status and body (bounded).
Answer fetchFromKbs(const sockaddr_in& kbs, const std::string& kbsText,
                    const std::string& resource) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {500, std::string("socket: ") + std::strerror(errno)};
  setTimeouts(fd);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&kbs), sizeof kbs) != 0) {
    Answer a{502, "key broker " + kbsText + " unreachable: " + std::strerror(errno)};
    close(fd);
    return a;
  }
  std::string req = "GET /kbs/v0/resource/" + resource + " HTTP/1.1\r\nHost: " + kbsText +
                    "\r\nConnection: close\r\nAccept: */*\r\n\r\n";
  std::string resp;
  bool sent = writeAll(fd, req);
  char buf[8192];
  while (sent && resp.size() <= kMaxHead + kMaxResource) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (!sent) return {502, "key broker: sending the request failed"};
  if (resp.size() > kMaxHead + kMaxResource) return {502, "key broker: answer too large"};
  size_t headEnd = resp.find("\r\n\r\n");
  if (headEnd == std::string::npos || headEnd > kMaxHead || !resp.starts_with("HTTP/1.") ||
      resp.size() < 12 || resp[8] != ' ') {
    return {502, "key broker: not an HTTP answer"};
  }
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (resp[i] < '0' || resp[i] > '9') return {502, "key broker: bad status line"};
    status = status * 10 + (resp[i] - '0');
  }
  std::string head = resp.substr(0, headEnd);
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (head.find("\r\ntransfer-encoding:") != std::string::npos) {
    return {502, "key broker: transfer encodings are not supported"};
  }
  std::string body = resp.substr(headEnd + 4);
  if (size_t cl = head.find("\r\ncontent-length:"); cl != std::string::npos) {
    size_t len = std::strtoul(head.c_str() + cl + 17, nullptr, 10);
    if (len > body.size()) return {502, "key broker: answer cut short"};
    body.resize(len);
  }
  if (body.size() > kMaxResource) return {502, "key broker: resource over 64 KiB"};
  if (status != 200)
    return {status == 404 ? 404 : 502, "key broker: HTTP " + std::to_string(status)};
  return {200, std::move(body)};
}

const char* reasonOf(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    default:
      return "Bad Gateway";
  }
}

void reply(int fd, const Answer& a) {
  std::string head = "HTTP/1.1 " + std::to_string(a.status) + " " + reasonOf(a.status) +
                     "\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                     std::to_string(a.body.size()) + "\r\nConnection: close\r\n\r\n";
  if (writeAll(fd, head)) writeAll(fd, a.body);
}

void serve(int fd, const sockaddr_in& kbs, const std::string& kbsText) {
  setTimeouts(fd);
  std::string req;
  char buf[2048];
  while (req.find("\r\n\r\n") == std::string::npos) {
    if (req.size() > kMaxHead) {
      reply(fd, {431, "request head over 8 KiB\n"});
      return;
    }
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the client went away or was too slow: nothing to answer
    req.append(buf, static_cast<size_t>(n));
  }
  if (req.find("\r\n\r\n") + 4 > kMaxHead) {
    reply(fd, {431, "request head over 8 KiB\n"});
    return;
  }
  std::string line = req.substr(0, req.find("\r\n"));
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string::npos || line.find(' ', sp2 + 1) != std::string::npos ||
      (line.substr(sp2 + 1) != "HTTP/1.1" && line.substr(sp2 + 1) != "HTTP/1.0")) {
    logf("malformed request line");
    reply(fd, {400, "malformed request line\n"});
    return;
  }
  std::string method = line.substr(0, sp1);
  std::string path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (method != "GET") {
    logf(method + " refused");
    reply(fd, {405, "only GET\n"});
    return;
  }
  auto resource = resourceOf(path);
  if (!resource) {
    logf("GET " + path.substr(0, 200) + " -> 404 (no such endpoint)");
    reply(fd, {404, "no such endpoint\n"});
    return;
  }
  Answer a = fetchFromKbs(kbs, kbsText, *resource);
  if (a.status == 200) {
    logf("GET " + path + " -> 200 (" + std::to_string(a.body.size()) +
         " bytes from the key broker)");
  } else {
    logf("GET " + path + " -> " + std::to_string(a.status) + ": " + a.body);
    a.body += "\n";
  }
  reply(fd, a);
}

int usage() {
  std::fprintf(stderr,
               "usage: api-server-rest [--features all] [--listen IP:PORT] [--kbs IP:PORT] "
               "[--kbs-netns PATH]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string listenText = "127.0.0.1:8006";
  std::string kbsText = "127.0.0.1:8080";
  std::string kbsNetns = "/proc/1/ns/net";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return usage();
    std::string v = argv[++i];
    if (a == "--features") {
      // Upstream's unit passes "--features all"; this stand-in serves resources only.
      if (v != "all" && v != "resource") return usage();
    } else if (a == "--listen") {
      listenText = v;
    } else if (a == "--kbs") {
      kbsText = v;
    } else if (a == "--kbs-netns") {
      kbsNetns = v;
    } else {
      return usage();
    }
  }
  auto listenAddr = parseAddress(listenText);
  auto kbsAddr = parseAddress(kbsText);
  if (!listenAddr || !kbsAddr) {
    std::fprintf(stderr, "api-server-rest: --listen and --kbs want IPv4:PORT\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(l, reinterpret_cast<sockaddr*>(&*listenAddr), sizeof *listenAddr) != 0 ||
      listen(l, 16) != 0) {
    std::fprintf(stderr, "api-server-rest: listening on %s: %s\n", listenText.c_str(),
                 std::strerror(errno));
    return 1;
  }
  if (!kbsNetns.empty()) {
    // Single-threaded: the whole process moves; the listener stays where it was bound.
    int ns = open(kbsNetns.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
      std::fprintf(stderr, "api-server-rest: entering %s: %s\n", kbsNetns.c_str(),
                   std::strerror(errno));
      return 1;
    }
    close(ns);
  }
  logf("listening on " + listenText + ", key broker " + kbsText +
       (kbsNetns.empty() ? std::string() : " (network namespace " + kbsNetns + ")"));
  while (true) {
    int fd = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
        if (errno == EMFILE || errno == ENFILE) sleep(1);
        continue;
      }
      std::fprintf(stderr, "api-server-rest: accept: %s\n", std::strerror(errno));
      return 1;
    }
    serve(fd, *kbsAddr, kbsText);
    close(fd);
  }
}
