// Writing one file on a pool VM over SFTP (libssh): public-key authentication, the server's
// host key checked by the caller before anything is sent, nothing else (no shell, no exec).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "base/error.h"

namespace pp::providers::byom {

// Asked once per connection, before authentication, with the server's key fingerprint
// ("SHA256:<base64>", as ssh-keygen -l prints it). An error refuses the server.
using HostKeyCheck = std::function<Status(const std::string& host, const std::string& fingerprint)>;

struct SftpSettings {
  std::string user;
  std::string privateKeyPem;  // the OpenSSH/PEM text of the private key (never logged)
  std::chrono::seconds timeout{30};
  int port = 22;
};

// Connects to host, checks its key, authenticates, creates the parent directory of
// `remotePath` when missing and writes `content` to it (created or truncated, mode 0644).
// A relative path is relative to the SFTP session's start directory (upstream's pool VMs
// chroot SFTP at /media, so "cidata/user-data" is /media/cidata/user-data).
// UNAVAILABLE when the VM cannot be reached, PERMISSION_DENIED / FAILED_PRECONDITION when the
// host key is refused, UNAUTHENTICATED when our key is, INTERNAL for SFTP failures.
Status sftpWriteFile(const SftpSettings& settings, const std::string& host,
                     const HostKeyCheck& checkHostKey, const std::string& remotePath,
                     const std::string& content);

// The fingerprints of the public keys in an authorized_keys/*.pub style text ("type base64
// [comment]" per line, comments and blank lines skipped). INVALID_ARGUMENT for a bad line.
Result<std::set<std::string>> fingerprintsOfPublicKeys(const std::string& text);

// Upstream's allow-list directory: every "*.pub" file (at most 100, each at most 16 KiB).
// INVALID_ARGUMENT naming the file or the limit; an empty list is an error too.
Result<std::set<std::string>> loadHostKeyAllowlist(const std::string& dir);

// Checks the private key file (no access for group or others: a Secret mounted 0600 or 0400;
// a key libssh can read, without passphrase) and returns its text.
Result<std::string> loadPrivateKey(const std::string& path);

// When `publicKeyPath` exists, checks that it holds the public half of `privateKeyPem`
// (INVALID_ARGUMENT naming -ssh-pub-key otherwise). A missing file is fine: libssh derives the
// public key from the private one (upstream requires the file).
Status checkPublicKeyFile(const std::string& publicKeyPath, const std::string& privateKeyPem);

// A TCP connect to host:port within `timeout` (upstream's VM readiness probe).
Status probeTcp(const std::string& host, int port, std::chrono::milliseconds timeout);

}  // namespace pp::providers::byom
