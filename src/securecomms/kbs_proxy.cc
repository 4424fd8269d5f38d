#include "securecomms/kbs_proxy.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <list>
#include <mutex>
#include <thread>

#include "base/log.h"
#include "securecomms/link.h"

namespace pp::securecomms {
namespace {

constexpr char kLog[] = "securecomms";
constexpr size_t kMaxHead = 16 * 1024;

// Copies both ways until both directions are closed or `stop`.
void pipeBoth(int a, int b, std::stop_token st) {
  char buf[16384];
  bool aOpen = true, bOpen = true;
  while ((aOpen || bOpen) && !st.stop_requested()) {
    pollfd p[2] = {{a, static_cast<short>(aOpen ? POLLIN : 0), 0},
                   {b, static_cast<short>(bOpen ? POLLIN : 0), 0}};
    int n = poll(p, 2, 200);
    if (n <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int from = i == 0 ? a : b, to = i == 0 ? b : a;
      ssize_t r = read(from, buf, sizeof buf);
      if (r <= 0) {
        shutdown(to, SHUT_WR);
        (i == 0 ? aOpen : bOpen) = false;
        continue;
      }
      size_t off = 0;
      while (off < static_cast<size_t>(r)) {
        ssize_t w = write(to, buf + off, static_cast<size_t>(r) - off);
        if (w <= 0) return;
        off += static_cast<size_t>(w);
      }
    }
  }
}

class ProxyImpl final : public KbsRewriteProxy {
 public:
  ProxyImpl(std::string sid, std::string host, uint16_t port, int fd)
      : sid_(std::move(sid)), host_(std::move(host)), kbsPort_(port), fd_(fd) {
    port_ = localPort(fd_);
    thread_ = std::jthread([this](std::stop_token st) { loop(st); });
  }
  ~ProxyImpl() override { stop(); }
  uint16_t port() const override { return port_; }
  void stop() override {
    thread_.request_stop();
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mu_);
    for (auto& w : workers_) w.request_stop();
    workers_.clear();
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  void loop(std::stop_token st) {
    while (!st.stop_requested()) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 200) <= 0) continue;
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::lock_guard lock(mu_);
      if (workers_.size() > 64) {
        close(c);
        continue;
      }
      workers_.emplace_back([this, c](std::stop_token ws) { serve(c, ws); });
    }
  }

  void serve(int c, std::stop_token st) {
    std::string head;
    char buf[4096];
    timeval tv{10, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (head.find("\r\n\r\n") == std::string::npos && head.size() <= kMaxHead) {
      ssize_t n = read(c, buf, sizeof buf);
      if (n <= 0) break;
      head.append(buf, static_cast<size_t>(n));
    }
    size_t end = head.find("\r\n\r\n");
    if (end == std::string::npos) {
      close(c);
      return;
    }
    std::string rest = head.substr(end + 4);
    auto rewritten = rewriteKbsRequestHead(head.substr(0, end + 4), sid_);
    if (!rewritten) {
      log::warn(kLog, "KBS tunnel of {}: {}", sid_, rewritten.error().message);
      close(c);
      return;
    }
    auto k = startConnect(host_, kbsPort_);
    if (!k) {
      log::warn(kLog, "KBS tunnel of {}: {}", sid_, k.error().message);
      close(c);
      return;
    }
    pollfd p{*k, POLLOUT, 0};
    poll(&p, 1, 10000);
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(*k, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0 || !(p.revents & POLLOUT)) {
      log::warn(kLog, "KBS tunnel of {}: connecting to the key broker failed", sid_);
      close(*k);
      close(c);
      return;
    }
    int fl = fcntl(*k, F_GETFL);
    fcntl(*k, F_SETFL, fl & ~O_NONBLOCK);
    std::string out = *rewritten + rest;
    if (write(*k, out.data(), out.size()) == static_cast<ssize_t>(out.size())) {
      pipeBoth(c, *k, st);
    }
    close(*k);
    close(c);
  }

  std::string sid_;
  std::string host_;
  uint16_t kbsPort_;
  int fd_;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::list<std::jthread> workers_;
  std::jthread thread_;
};

}  // namespace

Result<std::string> rewriteKbsRequestHead(const std::string& head, const std::string& sandboxId) {
  size_t eol = head.find("\r\n");
  if (eol == std::string::npos) return fail(Code::kInvalidArgument, "no request line");
  std::string line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = line.rfind(' ');
  if (sp1 == std::string::npos || sp2 == sp1 || !line.substr(sp2 + 1).starts_with("HTTP/1.")) {
    return fail(Code::kInvalidArgument, "not an HTTP/1.x request line");
  }
  std::string path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string generic = "/pp-sid/privateKey";
  if (path.ends_with(generic)) {
    path = path.substr(0, path.size() - generic.size()) + "/pp-" + sandboxId + "/privateKey";
  }
  std::string out = line.substr(0, sp1 + 1) + path + line.substr(sp2) + "\r\n";
  // Headers, without any Connection header; then ours.
  size_t pos = eol + 2;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string::npos || e == pos) break;
    std::string h = head.substr(pos, e - pos);
    std::string lower = h.substr(0, 11);
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower != "connection:") out += h + "\r\n";
    pos = e + 2;
  }
  out += "Connection: close\r\n\r\n";
  return out;
}

Result<std::unique_ptr<KbsRewriteProxy>> KbsRewriteProxy::start(std::string sandboxId,
                                                                std::string kbsHost,
                                                                uint16_t kbsPort) {
  auto fd = listenTcp("127.0.0.1", 0, "");
  if (!fd) return fail(fd.error().wrap("KBS tunnel proxy"));
  return std::unique_ptr<KbsRewriteProxy>(
      new ProxyImpl(std::move(sandboxId), std::move(kbsHost), kbsPort, *fd));
}

}  // namespace pp::securecomms
