// The worker node's SSH client for one pod VM: attestation phase (no host-key check) until the
// pod VM says Upgrade, then the Kubernetes phase (host key checked), reconnected when it drops.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "base/log.h"
#include "securecomms/link.h"

namespace pp::securecomms {
namespace {

constexpr char kLog[] = "securecomms";
using Clock = std::chrono::steady_clock;

// Sleeps up to `d`; false when stop was requested.
bool sleepFor(std::stop_token st, std::chrono::milliseconds d) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  return !cv.wait_for(lock, st, d, [] { return false; }) && !st.stop_requested();
}

class ClientImpl final : public SshClient {
 public:
  explicit ClientImpl(ClientOptions options) : options_(std::move(options)) {}
  ~ClientImpl() override { stop(); }

  Status init() {
    log::info(kLog, "Using PP SecureComms: InitSshClient version {}", kVersion);
    auto key = importPrivateKey(options_.clientPrivateKeyPem);
    if (!key) return fail(key.error().wrap("worker node key"));
    clientKey_ = std::move(*key);
    auto host = importPublicKey(options_.serverPublicKey);
    if (!host) return fail(host.error().wrap("pod VM public key"));
    hostKey_ = std::move(*host);
    for (const auto& tag : options_.inbounds) {
      auto fd = listenTcp("127.0.0.1", tag.port, tag.hostOrNetns);
      if (!fd) return fail(fd.error().wrap("inbound " + tag.toString()));
      inbounds_.push_back(
          std::make_unique<InboundListener>(InboundListener{tag, *fd, localPort(*fd)}));
    }
    thread_ = std::jthread([this](std::stop_token st) { run(st); });
    return {};
  }

  std::optional<uint16_t> inboundPort(const std::string& name) const override {
    for (const auto& in : inbounds_)
      if (in->tag.name == name) return in->port;
    return std::nullopt;
  }

  Status waitKubernetesPhase(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return links_ > 0 || error_.has_value(); })) {
      return fail(Code::kDeadlineExceeded,
                  fmt::format("no Kubernetes-phase SSH link to {}:{} within {} ms", options_.host,
                              options_.port, timeout.count()));
    }
    if (links_ > 0) return {};
    return fail(*error_);
  }
  bool connected() const override { return connected_.load(); }
  int kubernetesLinks() const override {
    std::lock_guard lock(mu_);
    return links_;
  }

  void stop() override {
    thread_.request_stop();
    if (thread_.joinable()) thread_.join();
    for (auto& in : inbounds_) {
      if (in->fd >= 0) close(in->fd);
      in->fd = -1;
    }
  }

 private:
  // A TCP connection to the pod VM within the dial timeout; -1 on failure or stop.
  int dial(std::stop_token st, std::string* why) {
    auto fd = startConnect(options_.host, options_.port);
    if (!fd) {
      *why = fd.error().message;
      return -1;
    }
    auto deadline = Clock::now() + options_.timing.dialTimeout;
    while (!st.stop_requested() && Clock::now() < deadline) {
      pollfd p{*fd, POLLOUT, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(*fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        *why = strerror(err);
        close(*fd);
        return -1;
      }
      // libssh's handshake wants a blocking socket.
      int flags = fcntl(*fd, F_GETFL);
      fcntl(*fd, F_SETFL, flags & ~O_NONBLOCK);
      return *fd;
    }
    close(*fd);
    *why = "connect timed out";
    return -1;
  }

  std::vector<InboundListener*> inboundPtrs() {
    std::vector<InboundListener*> out;
    for (auto& in : inbounds_) out.push_back(in.get());
    return out;
  }

  void setError(Error e) {
    log::error(kLog, "{}", e.message);
    std::lock_guard lock(mu_);
    error_ = std::move(e);
    cv_.notify_all();
  }

  void run(std::stop_token st) {
    if (!options_.skipAttestation && !attestation(st)) return;
    kubernetes(st);
  }

  // True when the Kubernetes phase may start.
  bool attestation(std::stop_token st) {
    std::chrono::milliseconds delay{100};
    std::string last;
    for (int attempt = 1; attempt <= options_.attestationAttempts; ++attempt) {
      if (st.stop_requested()) return false;
      std::string why;
      int fd = dial(st, &why);
      if (fd >= 0) {
        Link link(false, LinkPhase::kAttestation, inboundPtrs(), options_.outbounds,
                  options_.timing);
        // Attestation phase: the pod VM has no key of its own yet, so its host key is not checked.
        auto connected = link.connectClient(fd, clientKey_.get(), nullptr);
        if (connected && *connected == LinkEnd::kPastAttestation) {
          log::info(kLog, "Attestation phase: the pod VM is in the Kubernetes phase already");
          return true;
        }
        if (connected) {
          log::info(kLog, "Attestation phase: connected to {}:{}", options_.host, options_.port);
          connected_ = true;
          auto end = link.run(st);
          connected_ = false;
          if (end == LinkEnd::kUpgraded) return true;
          if (end == LinkEnd::kStopped) return false;
          why = "link ended";
        } else {
          why = connected.error().message;
        }
      }
      if (why != last) log::info(kLog, "Attestation phase: attempt {}: {}", attempt, why);
      last = why;
      if (!sleepFor(st, delay)) return false;
      delay = std::min<std::chrono::milliseconds>(delay * 2, std::chrono::seconds(5));
    }
    setError(Error(Code::kUnavailable,
                   fmt::format("Attestation phase: no link to {}:{} after {} attempts: {}",
                               options_.host, options_.port, options_.attestationAttempts, last)));
    return false;
  }

  void kubernetes(std::stop_token st) {
    auto delay = options_.reconnectDelay;
    std::string last;
    while (!st.stop_requested()) {
      std::string why;
      int fd = dial(st, &why);
      auto began = Clock::now();
      if (fd >= 0) {
        Link link(false, LinkPhase::kKubernetes, inboundPtrs(), options_.outbounds,
                  options_.timing);
        auto connected = link.connectClient(fd, clientKey_.get(), hostKey_.get());
        if (connected) {
          log::info(kLog, "Kubernetes phase: connected to {}:{}", options_.host, options_.port);
          {
            std::lock_guard lock(mu_);
            ++links_;
            cv_.notify_all();
          }
          connected_ = true;
          auto end = link.run(st);
          connected_ = false;
          if (end == LinkEnd::kStopped) return;
          why = "link ended";
          log::info(kLog, "Kubernetes phase: link to {}:{} ended; reconnecting", options_.host,
                    options_.port);
        } else {
          why = connected.error().message;
        }
      }
      if (Clock::now() - began > options_.reconnectDelayMax) delay = options_.reconnectDelay;
      if (why != last) log::warn(kLog, "Kubernetes phase: {}", why);
      last = why;
      if (!sleepFor(st, delay)) return;
      delay = std::min(delay * 2, options_.reconnectDelayMax);
    }
  }

  ClientOptions options_;
  SshKeyPtr clientKey_;
  SshKeyPtr hostKey_;
  std::vector<std::unique_ptr<InboundListener>> inbounds_;
  std::atomic<bool> connected_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int links_ = 0;
  std::optional<Error> error_;
  std::jthread thread_;
};

}  // namespace

Result<std::unique_ptr<SshClient>> SshClient::start(ClientOptions options) {
  auto client = std::make_unique<ClientImpl>(std::move(options));
  if (auto ok = client->init(); !ok) return fail(ok.error());
  return std::unique_ptr<SshClient>(std::move(client));
}

}  // namespace pp::securecomms
