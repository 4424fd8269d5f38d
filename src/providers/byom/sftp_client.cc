#include "providers/byom/sftp_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "base/files.h"
#include "base/scope_exit.h"
#include "base/strings.h"

namespace pp::providers::byom {

namespace {

void initLibssh() {
  static std::once_flag once;
  std::call_once(once, [] { ssh_init(); });
}

std::string fingerprintOf(ssh_key key) {
  unsigned char* hash = nullptr;
  size_t len = 0;
  if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &len) != SSH_OK) return "";
  char* text = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, len);
  ssh_clean_pubkey_hash(&hash);
  if (!text) return "";
  std::string out = text;
  ssh_string_free_char(text);
  return out;
}

}  // namespace

Result<std::set<std::string>> fingerprintsOfPublicKeys(const std::string& text) {
  initLibssh();
  std::set<std::string> out;
  size_t start = 0;
  int lineNo = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line(strings::trim(std::string_view(text).substr(start, end - start)));
    start = end + 1;
    ++lineNo;
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.find_first_of(" \t");
    if (sp == std::string::npos)
      return fail(Code::kInvalidArgument, "line " + std::to_string(lineNo) + " is not a key");
    std::string type = line.substr(0, sp);
    std::string rest(strings::trim(std::string_view(line).substr(sp)));
    std::string b64 = rest.substr(0, rest.find_first_of(" \t"));
    ssh_key key = nullptr;
    if (ssh_key_type_from_name(type.c_str()) == SSH_KEYTYPE_UNKNOWN ||
        ssh_pki_import_pubkey_base64(b64.c_str(), ssh_key_type_from_name(type.c_str()), &key) !=
            SSH_OK) {
      return fail(Code::kInvalidArgument,
                  "line " + std::to_string(lineNo) + " is not a public key of a known type");
    }
    out.insert(fingerprintOf(key));
    ssh_key_free(key);
  }
  return out;
}

Result<std::set<std::string>> loadHostKeyAllowlist(const std::string& dir) {
  namespace fs = std::filesystem;
  constexpr size_t kMaxFiles = 100;
  constexpr size_t kMaxFileBytes = 16 * 1024;
  const std::string what = "byom: -ssh-host-key-allowlist-dir (SSH_HOST_KEY_ALLOWLIST_DIR) " + dir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return fail(Code::kInvalidArgument, what + " is not a directory");
  std::set<std::string> out;
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    // Kubernetes mounts ConfigMap keys as symlinks into a ..data directory: follow them.
    if (entry.path().extension() != ".pub" || !fs::is_regular_file(entry.path(), ec)) continue;
    if (++files > kMaxFiles)
      return fail(Code::kInvalidArgument, what + " holds more than 100 .pub files");
    if (fs::file_size(entry.path(), ec) > kMaxFileBytes)
      return fail(Code::kInvalidArgument,
                  what + ": " + entry.path().filename().string() + " is larger than 16 KiB");
    auto text = files::readFile(entry.path().string(), kMaxFileBytes);
    if (!text) return fail(text.error().wrap(what));
    auto keys = fingerprintsOfPublicKeys(*text);
    if (!keys) return fail(keys.error().wrap(what + ": " + entry.path().filename().string()));
    out.insert(keys->begin(), keys->end());
  }
  if (ec) return fail(Code::kInvalidArgument, what + ": " + ec.message());
  if (out.empty()) return fail(Code::kInvalidArgument, what + " holds no *.pub host key");
  return out;
}

Result<std::string> loadPrivateKey(const std::string& path) {
  initLibssh();
  const std::string what = "byom: -ssh-priv-key (SSH_PRIV_KEY_PATH) " + path;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return fail(Code::kInvalidArgument, what + ": " + std::strerror(errno));
  if ((st.st_mode & 077) != 0)
    return fail(Code::kInvalidArgument,
                what + " must not be readable by group or others (mode 0600 or 0400)");
  auto text = files::readFile(path, 64 * 1024);
  if (!text) return fail(text.error().wrap(what));
  ssh_key key = nullptr;
  if (ssh_pki_import_privkey_base64(text->c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK)
    return fail(Code::kInvalidArgument,
                what + " is not a private key libssh can read (or it has a passphrase)");
  ssh_key_free(key);
  return std::move(*text);
}

Status checkPublicKeyFile(const std::string& path, const std::string& privateKeyPem) {
  initLibssh();
  const std::string what = "byom: -ssh-pub-key (SSH_PUB_KEY_PATH) " + path;
  std::error_code ec;
  if (path.empty() || !std::filesystem::exists(path, ec)) return {};
  auto text = files::readFile(path, 64 * 1024);
  if (!text) return fail(text.error().wrap(what));
  auto listed = fingerprintsOfPublicKeys(*text);
  if (!listed || listed->size() != 1)
    return fail(Code::kInvalidArgument, what + " does not hold one public key");
  ssh_key key = nullptr;
  if (ssh_pki_import_privkey_base64(privateKeyPem.c_str(), nullptr, nullptr, nullptr, &key) !=
      SSH_OK)
    return fail(Code::kInvalidArgument, "byom: the SSH private key cannot be read");
  std::string fp = fingerprintOf(key);
  ssh_key_free(key);
  if (!listed->contains(fp))
    return fail(Code::kInvalidArgument,
                what + " is not the public half of -ssh-priv-key (SSH_PRIV_KEY_PATH)");
  return {};
}

Status probeTcp(const std::string& host, int port, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res)
    return fail(Code::kInvalidArgument, "not an IP address: " + host);
  ScopeExit freeRes([&] { freeaddrinfo(res); });
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(Code::kInternal, std::string("socket: ") + std::strerror(errno));
  ScopeExit closeFd([&] { ::close(fd); });
  if (::connect(fd, res->ai_addr, res->ai_addrlen) == 0) return {};
  if (errno != EINPROGRESS)
    return fail(Code::kUnavailable,
                "connect " + host + ":" + std::to_string(port) + ": " + std::strerror(errno));
  pollfd p{fd, POLLOUT, 0};
  int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
  if (n <= 0)
    return fail(Code::kUnavailable, "connect " + host + ":" + std::to_string(port) + ": timed out");
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0)
    return fail(Code::kUnavailable,
                "connect " + host + ":" + std::to_string(port) + ": " + std::strerror(err));
  return {};
}

Status sftpWriteFile(const SftpSettings& s, const std::string& host,
                     const HostKeyCheck& checkHostKey, const std::string& remotePath,
                     const std::string& content) {
  initLibssh();
  const std::string where = s.user + "@" + host + ":" + std::to_string(s.port);
  ssh_session session = ssh_new();
  if (!session) return fail(Code::kInternal, "libssh: cannot create a session");
  ScopeExit freeSession([&] { ssh_free(session); });
  long timeout = static_cast<long>(std::max<int64_t>(1, s.timeout.count()));
  int port = s.port;
  int noConfig = 0;
  ssh_options_set(session, SSH_OPTIONS_PROCESS_CONFIG, &noConfig);  // no ~/.ssh/config
  ssh_options_set(session, SSH_OPTIONS_HOST, host.c_str());
  ssh_options_set(session, SSH_OPTIONS_PORT, &port);
  ssh_options_set(session, SSH_OPTIONS_USER, s.user.c_str());
  ssh_options_set(session, SSH_OPTIONS_TIMEOUT, &timeout);
  ssh_options_set(session, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
  ssh_options_set(session, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
  if (ssh_connect(session) != SSH_OK)
    return fail(Code::kUnavailable, "ssh " + where + ": " + ssh_get_error(session));
  ScopeExit disconnect([&] { ssh_disconnect(session); });

  ssh_key serverKey = nullptr;
  if (ssh_get_server_publickey(session, &serverKey) != SSH_OK)
    return fail(Code::kUnavailable, "ssh " + where + ": no host key: " + ssh_get_error(session));
  std::string fingerprint = fingerprintOf(serverKey);
  ssh_key_free(serverKey);
  if (fingerprint.empty())
    return fail(Code::kInternal, "ssh " + where + ": cannot fingerprint the host key");
  if (auto st = checkHostKey(host, fingerprint); !st) return st;

  ssh_key key = nullptr;
  if (ssh_pki_import_privkey_base64(s.privateKeyPem.c_str(), nullptr, nullptr, nullptr, &key) !=
      SSH_OK)
    return fail(Code::kInvalidArgument, "byom: the SSH private key cannot be read");
  int auth = ssh_userauth_publickey(session, nullptr, key);
  ssh_key_free(key);
  if (auth != SSH_AUTH_SUCCESS)
    return fail(Code::kUnauthenticated,
                "ssh " + where + ": public key authentication refused: " + ssh_get_error(session));

  sftp_session sftp = sftp_new(session);
  if (!sftp) return fail(Code::kInternal, "sftp " + where + ": " + ssh_get_error(session));
  ScopeExit freeSftp([&] { sftp_free(sftp); });
  if (sftp_init(sftp) != SSH_OK)
    return fail(Code::kInternal,
                "sftp " + where + ": cannot start the SFTP subsystem: " + ssh_get_error(session));
  // MkdirAll of the parent, as upstream; an existing directory is fine.
  for (size_t slash = remotePath.find('/', 1); slash != std::string::npos;
       slash = remotePath.find('/', slash + 1)) {
    std::string dir = remotePath.substr(0, slash);
    if (sftp_mkdir(sftp, dir.c_str(), 0755) != SSH_OK &&
        sftp_get_error(sftp) != SSH_FX_FILE_ALREADY_EXISTS &&
        sftp_get_error(sftp) != SSH_FX_FAILURE) {
      return fail(Code::kInternal, "sftp " + where + ": mkdir " + dir + " failed (SFTP error " +
                                       std::to_string(sftp_get_error(sftp)) + ")");
    }
  }
  sftp_file file = sftp_open(sftp, remotePath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!file)
    return fail(Code::kInternal, "sftp " + where + ": cannot open " + remotePath +
                                     " for writing (SFTP error " +
                                     std::to_string(sftp_get_error(sftp)) + ")");
  size_t done = 0;
  while (done < content.size()) {
    size_t chunk = std::min<size_t>(content.size() - done, 32 * 1024);
    ssize_t n = sftp_write(file, content.data() + done, chunk);
    if (n <= 0) {
      sftp_close(file);
      return fail(Code::kInternal, "sftp " + where + ": writing " + remotePath +
                                       " failed: " + ssh_get_error(session));
    }
    done += static_cast<size_t>(n);
  }
  if (sftp_close(file) != SSH_NO_ERROR)
    return fail(Code::kInternal,
                "sftp " + where + ": closing " + remotePath + " failed: " + ssh_get_error(session));
  return {};
}

}  // namespace pp::providers::byom
