#include "adaptor/cert_issuer.h"

#include <fcntl.h>
#include <fmt/chrono.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <tuple>
#include <vector>

#include "base/files.h"
#include "base/log.h"
#include "net/tls.h"

namespace pp::adaptor {
namespace {

using Clock = std::chrono::system_clock;

// When a certificate stops being valid; one that cannot be read counts as expired (renewed).
Clock::time_point notAfter(std::string_view certPem) {
  auto end = net::certificateNotAfter(certPem);
  return end ? *end : Clock::time_point::min();
}

std::string formatTime(Clock::time_point t) {
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(Clock::to_time_t(t)));
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// The directory holding the material: nobody but us may replace what is in it.
Status checkDirectory(int dirFd, const std::string& dir) {
  struct stat st {};
  if (::fstat(dirFd, &st) != 0) return fail(Code::kInternal, dir + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) return fail(Code::kFailedPrecondition, dir + " is not a directory");
  if (st.st_uid != ::geteuid()) {
    return fail(Code::kFailedPrecondition,
                fmt::format("{} is owned by uid {}, not by uid {} that runs the adaptor; remove "
                            "it to regenerate the TLS material",
                            dir, st.st_uid, ::geteuid()));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return fail(Code::kFailedPrecondition,
                fmt::format("{} is writable by group or others (mode {:04o}); chmod 700 it, or "
                            "remove it to regenerate the TLS material",
                            dir, st.st_mode & 07777));
  }
  return {};
}

// Reads one file of the material through `dirFd`, without following a symbolic link. Missing:
// nullopt. A private key must be ours and private (mode 0600 or stricter): a key others could
// read is compromised, one they could write may be theirs.
Result<std::optional<std::string>> readMaterial(int dirFd, const std::string& dir,
                                                const std::string& name, bool secret) {
  const std::string path = dir + "/" + name;
  Fd fd(::openat(dirFd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    if (errno == ELOOP) {
      return fail(Code::kFailedPrecondition, path + " is a symbolic link, not a regular file");
    }
    return fail(Code::kFailedPrecondition, "opening " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(Code::kInternal, path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return fail(Code::kFailedPrecondition, path + " is not a regular file");
  if (secret && st.st_uid != ::geteuid()) {
    return fail(Code::kFailedPrecondition,
                fmt::format("private key {} is owned by uid {}, not by uid {} that runs the "
                            "adaptor; chown it, or remove {} to regenerate the TLS material",
                            path, st.st_uid, ::geteuid(), dir));
  }
  if (secret && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return fail(Code::kFailedPrecondition,
                fmt::format("private key {} is accessible by group or others (mode {:04o}); "
                            "chmod 600 it, or remove {} to regenerate the TLS material",
                            path, st.st_mode & 07777, dir));
  }
  constexpr size_t kMaxBytes = 1 << 20;
  std::string out;
  char buf[16 * 1024];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Code::kInternal, "reading " + path + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > kMaxBytes)
      return fail(Code::kOutOfRange, path + " is larger than 1 MiB");
    out.append(buf, static_cast<size_t>(n));
  }
  return std::optional<std::string>(std::move(out));
}

}  // namespace

struct OpensslCertIssuer::Impl {
  std::mutex mu;
  std::optional<net::CertificateAuthority> ca;
  Clock::time_point caNotAfter;
  ClientBundle client;
  std::string clientCa;  // what the forwarder verifies our client certificate with
  CertIssuerOptions options;
  bool expiryWarned = false;
};

OpensslCertIssuer::~OpensslCertIssuer() = default;

Result<std::unique_ptr<OpensslCertIssuer>> OpensslCertIssuer::loadOrCreate(
    const std::string& dir, CertIssuerOptions options) {
  std::unique_ptr<OpensslCertIssuer> self(new OpensslCertIssuer());
  self->impl_ = std::make_unique<Impl>();
  Impl& m = *self->impl_;
  m.options = std::move(options);
  const Clock::time_point now = m.options.now();

  // Everything is read through one descriptor of the directory, which is checked first.
  std::optional<std::string> caPem, caKeyPem, clPem, clKeyPem;
  Fd dirFd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dirFd.get() < 0 && errno != ENOENT) {
    return fail(Code::kFailedPrecondition, "opening " + dir + ": " + std::strerror(errno));
  }
  if (dirFd.get() >= 0) {
    if (auto st = checkDirectory(dirFd.get(), dir); !st) return fail(st.error());
    for (auto& [name, out, secret] :
         std::vector<std::tuple<std::string, std::optional<std::string>*, bool>>{
             {"ca.crt", &caPem, false},
             {"ca.key", &caKeyPem, true},
             {"client.crt", &clPem, false},
             {"client.key", &clKeyPem, true}}) {
      auto read = readMaterial(dirFd.get(), dir, name, secret);
      if (!read) return fail(read.error());
      *out = std::move(*read);
    }
  }

  if (caPem && caKeyPem && clPem && clKeyPem) {
    auto ca = net::CertificateAuthority::load(*caPem, *caKeyPem);
    auto client = net::checkCertifiedKey({*clPem, *clKeyPem});
    if (!ca || !client) {
      return fail(Code::kFailedPrecondition,
                  "TLS material in " + dir + " is unreadable or inconsistent (" +
                      (ca ? client.error() : ca.error()).message + "); remove it to regenerate");
    }
    // Renewing is safe while pod VMs run: each sandbox's state.json keeps the CA and client
    // certificate it was created with, and its proxy keeps using those; only sandboxes
    // created from now on get the new material.
    const Clock::time_point caEnd = notAfter(*caPem);
    const Clock::time_point clientEnd = notAfter(*clPem);
    const Clock::time_point end = std::min(caEnd, clientEnd);
    if (end > now + m.options.renewBefore) {
      m.ca = std::move(*ca);
      m.caNotAfter = caEnd;
      m.client = {*caPem, *clPem, *clKeyPem};
      m.clientCa = *clPem;
      log::info("adaptor",
                "TLS CA in {} valid until {}, client certificate until {}; renewed at the first "
                "start after {}",
                dir, formatTime(caEnd), formatTime(clientEnd),
                formatTime(end - m.options.renewBefore));
      return self;
    }
    log::warn("adaptor",
              "TLS material in {} {} {} (CA until {}, client certificate until {}): renewing it; "
              "running pod VMs keep the material recorded with their sandbox",
              dir, end <= now ? "expired on" : "expires on", formatTime(end), formatTime(caEnd),
              formatTime(clientEnd));
  } else if (caPem || caKeyPem || clPem || clKeyPem) {
    log::warn("adaptor", "TLS material in {} is incomplete: creating it anew", dir);
  }

  auto ca = net::CertificateAuthority::create(net::kCaOrganization, "peerpods CA", now);
  if (!ca) return fail(ca.error());
  // The client certificate is self-signed (as upstream); the forwarder trusts exactly it.
  auto client = net::selfSignedClient(net::kClientOrganization, now);
  if (!client) return fail(client.error());
  m.ca = std::move(*ca);
  m.caNotAfter = notAfter(m.ca->certPem());
  m.client = {m.ca->certPem(), client->certPem, client->keyPem};
  m.clientCa = m.client.clientCertPem;
  if (auto st = files::makeDirs(dir, 0700); !st) return fail(st.error());
  // Keys first: a crash in between leaves an incomplete set, which is created anew.
  for (auto& [name, content, mode] : std::vector<std::tuple<std::string, std::string, mode_t>>{
           {"ca.key", m.ca->keyPem(), 0600},
           {"client.key", m.client.clientKeyPem, 0600},
           {"ca.crt", m.client.caCertPem, 0644},
           {"client.crt", m.client.clientCertPem, 0644}}) {
    if (auto st = files::writeAtomic(dir + "/" + name, content, mode); !st) return fail(st.error());
  }
  log::info("adaptor", "created TLS CA and client certificate in {}, valid until {}", dir,
            formatTime(m.caNotAfter));
  return self;
}

Clock::time_point OpensslCertIssuer::caNotAfter() const {
  std::lock_guard lock(impl_->mu);
  return impl_->caNotAfter;
}

Status OpensslCertIssuer::useFiles(const std::string& caFile, const std::string& certFile,
                                   const std::string& keyFile) {
  std::lock_guard lock(impl_->mu);
  if (!caFile.empty()) {
    auto ca = net::readCertificateFile(caFile, "-ca-cert-file");
    if (!ca) return fail(ca.error());
    impl_->client.caCertPem = std::move(*ca);
  }
  if (certFile.empty() != keyFile.empty()) {
    return fail(Code::kInvalidArgument, "-cert-file and -cert-key must be given together");
  }
  if (!certFile.empty()) {
    auto pair = net::readCertifiedKeyFiles(certFile, keyFile);
    if (!pair) return fail(pair.error().wrap("-cert-file and -cert-key"));
    impl_->client.clientCertPem = pair->certPem;
    impl_->client.clientKeyPem = std::move(pair->keyPem);
    impl_->clientCa = std::move(pair->certPem);
  }
  return {};
}

Result<ServerCert> OpensslCertIssuer::issueServer(const std::string& instanceName) {
  Clock::time_point now;
  {
    std::lock_guard lock(impl_->mu);
    now = impl_->options.now();
    if (!impl_->expiryWarned && impl_->caNotAfter <= now + impl_->options.renewBefore) {
      // Renewal happens at start only: the certificates of a sandbox being created are taken
      // in several calls, which must all see the same CA.
      impl_->expiryWarned = true;
      log::warn("adaptor",
                "the TLS CA expires on {}, and the pod VMs whose certificates it issued cannot "
                "be verified after that: restart the adaptor to renew it for new pod VMs",
                formatTime(impl_->caNotAfter));
    }
  }
  // Outside the lock: the CA is set once, at load, and signing with it is const, so
  // CreateVMs arriving at once make their keys and certificates in parallel (one at a time
  // they queued ~1 ms each behind one another).
  return impl_->ca->issueServer(instanceName, now);
}

ClientBundle OpensslCertIssuer::clientBundle() const {
  std::lock_guard lock(impl_->mu);
  return impl_->client;
}

std::string OpensslCertIssuer::clientCaPem() const {
  std::lock_guard lock(impl_->mu);
  return impl_->clientCa;
}

}  // namespace pp::adaptor
