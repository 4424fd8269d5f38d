// Plain blocking sockets for the HTTP tests: send exact bytes (malformed requests, pipelining)
// and read what comes back, or play a server that answers with canned bytes. Every read has a
// timeout, so a server that never answers fails the test instead of hanging it.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace pp::net::testing {

class RawSocket {
 public:
  explicit RawSocket(int fd = -1) : fd_(fd) {}
  RawSocket(RawSocket&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  RawSocket& operator=(RawSocket&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  ~RawSocket() {
    if (fd_ >= 0) ::close(fd_);
  }

  static RawSocket connectLoopback(uint16_t port, int timeoutMs = 5000) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return RawSocket();
    }
    RawSocket s(fd);
    s.setTimeout(timeoutMs);
    return s;
  }

  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  void setTimeout(int ms) {
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }

  bool sendAll(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads until the peer closes (true) or the timeout / an error (false).
  bool readUntilClose(std::string& out, size_t max = 8 << 20) {
    char buf[4096];
    while (out.size() < max) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n == 0) return true;
      if (n < 0) return false;
      out.append(buf, static_cast<size_t>(n));
    }
    return false;
  }

  // Reads one response with a Content-Length (or none: no body), leaving later bytes in
  // `pending_`. Returns "" on timeout or close before a complete response.
  std::string readResponse() {
    for (;;) {
      size_t headEnd = pending_.find("\r\n\r\n");
      if (headEnd != std::string::npos) {
        size_t length = 0;
        std::string head = pending_.substr(0, headEnd);
        for (std::string_view key : {"Content-Length: ", "content-length: "}) {
          size_t at = head.find(key);
          if (at != std::string::npos) length = std::stoul(head.substr(at + key.size()));
        }
        // Interim responses carry no body.
        if (head.starts_with("HTTP/1.1 1")) length = 0;
        size_t total = headEnd + 4 + length;
        if (pending_.size() >= total) {
          std::string response = pending_.substr(0, total);
          pending_.erase(0, total);
          return response;
        }
      }
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return "";
      pending_.append(buf, static_cast<size_t>(n));
    }
  }

  // True when the peer has closed (EOF) and nothing else is pending.
  bool closedByPeer() {
    if (!pending_.empty()) return false;
    char c;
    return ::recv(fd_, &c, 1, 0) == 0;
  }

 private:
  int fd_;
  std::string pending_;
};

// Accepts connections on a loopback port and answers each with `reply` after reading the
// request head, then closes: for responses our own server would never produce.
class CannedServer {
 public:
  explicit CannedServer(std::string reply) : reply_(std::move(reply)) {
    listenFd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listenFd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(listenFd_, 8);
    socklen_t len = sizeof addr;
    ::getsockname(listenFd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~CannedServer() {
    stopping_ = true;
    ::shutdown(listenFd_, SHUT_RDWR);
    thread_.join();
    ::close(listenFd_);
  }
  uint16_t port() const { return port_; }
  // The reply for the connections accepted from now on.
  void setReply(std::string_view reply) {
    std::lock_guard lock(replyMu_);
    reply_.assign(reply);
  }

 private:
  void run() {
    while (!stopping_) {
      int fd = ::accept(listenFd_, nullptr, nullptr);
      if (fd < 0) return;
      RawSocket s(fd);
      s.setTimeout(5000);
      std::string request;
      char buf[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
      }
      std::string reply;
      {
        std::lock_guard lock(replyMu_);
        reply = reply_;
      }
      s.sendAll(reply);
    }
  }

  std::mutex replyMu_;
  std::string reply_;
  int listenFd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace pp::net::testing
