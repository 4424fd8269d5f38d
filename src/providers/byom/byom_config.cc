#include "providers/byom/byom_config.h"

#include <arpa/inet.h>

#include <array>
#include <cstring>
#include <set>

#include "base/files.h"
#include "base/log.h"
#include "base/strings.h"

namespace pp::providers::byom {

void registerByomFlags(flags::FlagSet& fs, ByomConfig& c) {
  fs.stringVar(&c.vmPoolIps, "vm-pool-ips", "", "VM_POOL_IPS",
               "Comma-separated list of IP addresses for pre-created VMs")
      .required();
  fs.stringVar(&c.sshUsername, "ssh-username", "peerpod", "SSH_USERNAME",
               "SSH username for VM access");
  fs.stringVar(&c.sshPubKeyPath, "ssh-pub-key", "/root/.ssh/id_rsa.pub", "SSH_PUB_KEY_PATH",
               "SSH public key file path");
  fs.stringVar(&c.sshPrivKeyPath, "ssh-priv-key", "/root/.ssh/id_rsa", "SSH_PRIV_KEY_PATH",
               "SSH private key file path");
  fs.stringVar(&c.poolNamespace, "pool-namespace", "", "POOL_NAMESPACE",
               "Namespace for ConfigMap storage (default: auto-detect from running pod)");
  fs.stringVar(&c.poolConfigMapName, "pool-configmap-name", kDefaultConfigMapName,
               "POOL_CONFIGMAP_NAME", "ConfigMap name for state storage");
  fs.intVar(&c.maxRangeIps, "max-range-ips", 100, "MAX_RANGE_IPS",
            "Maximum number of IPs allowed in a range");
  fs.intVar(&c.sshTimeoutSeconds, "ssh-timeout", 30, "SSH_TIMEOUT",
            "SSH connection timeout in seconds");
  fs.stringVar(&c.sshHostKeyAllowlistDir, "ssh-host-key-allowlist-dir", "",
               "SSH_HOST_KEY_ALLOWLIST_DIR",
               "Directory containing allowed SSH host key files (enables allowlist mode if set)");
  // Ours.
  fs.durationVar(&c.orphanGracePeriod, "byom-orphan-grace-period", std::chrono::minutes(10),
                 "BYOM_ORPHAN_GRACE_PERIOD",
                 "At start, release pool allocations whose PeerPod no longer exists once they "
                 "are older than this (0 disables the release)");
}

namespace {

// An address in network byte order, 4 or 16 bytes.
struct Addr {
  int family = 0;
  std::array<unsigned char, 16> bytes{};
  size_t size() const { return family == AF_INET ? 4 : 16; }
  bool operator<(const Addr& o) const {
    return std::memcmp(bytes.data(), o.bytes.data(), size()) < 0;
  }
  bool operator==(const Addr& o) const {
    return family == o.family && std::memcmp(bytes.data(), o.bytes.data(), size()) == 0;
  }
  // The next address; false when it wraps.
  bool next() {
    for (size_t i = size(); i-- > 0;)
      if (++bytes[i] != 0) return true;
    return false;
  }
  std::string text() const {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(family, bytes.data(), buf, sizeof buf);
    return buf;
  }
};

bool parseAddr(std::string_view text, Addr* out) {
  std::string s(text);
  if (inet_pton(AF_INET, s.c_str(), out->bytes.data()) == 1) {
    out->family = AF_INET;
    return true;
  }
  if (s.find('%') == std::string::npos && inet_pton(AF_INET6, s.c_str(), out->bytes.data()) == 1) {
    out->family = AF_INET6;
    return true;
  }
  return false;
}

}  // namespace

Result<std::vector<std::string>> parsePoolIps(const std::string& text, int64_t maxRangeIps) {
  std::vector<std::string> all;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item(strings::trim(std::string_view(text).substr(start, comma - start)));
    start = comma + 1;
    if (item.empty()) continue;
    if (auto dash = item.find('-'); dash != std::string::npos) {
      Addr a, b;
      std::string_view first = strings::trim(std::string_view(item).substr(0, dash));
      std::string_view last = strings::trim(std::string_view(item).substr(dash + 1));
      if (!parseAddr(first, &a) || !parseAddr(last, &b) || a.family != b.family)
        return fail(Code::kInvalidArgument,
                    "byom: -vm-pool-ips (VM_POOL_IPS): invalid IP range \"" + item + "\"");
      if (!(a < b))
        return fail(Code::kInvalidArgument,
                    "byom: -vm-pool-ips (VM_POOL_IPS): invalid IP range \"" + item +
                        "\" (the start must be below the end)");
      int64_t count = 0;
      for (Addr ip = a;;) {
        if (++count > maxRangeIps) {
          log::warn("byom", "IP range {} exceeds -max-range-ips, using only its first {} addresses",
                    item, maxRangeIps);
          break;
        }
        all.push_back(ip.text());
        if (ip == b || !ip.next()) break;
      }
      continue;
    }
    Addr a;
    if (!parseAddr(item, &a))
      return fail(Code::kInvalidArgument,
                  "byom: -vm-pool-ips (VM_POOL_IPS): invalid IP address \"" + item + "\"");
    all.push_back(a.text());
  }
  std::vector<std::string> unique;
  std::set<std::string> seen;
  for (auto& ip : all)
    if (seen.insert(ip).second) unique.push_back(std::move(ip));
  return unique;
}

std::string detectNamespace(const flags::EnvLookup& env, const std::string& namespaceFile) {
  if (auto text = files::readFile(namespaceFile, 4096)) {
    std::string ns(strings::trim(*text));
    if (!ns.empty()) return ns;
  }
  if (auto v = env("POD_NAMESPACE")) {
    std::string ns(strings::trim(*v));
    if (!ns.empty()) return ns;
  }
  return kDefaultNamespace;
}

Result<std::string> detectNodeName(const flags::EnvLookup& env, const std::string& podinfoFile,
                                   const std::string& hostnameFile) {
  if (auto v = env("NODE_NAME")) {
    std::string name(strings::trim(*v));
    if (!name.empty()) return name;
  }
  for (const auto& file : {podinfoFile, hostnameFile}) {
    if (auto text = files::readFile(file, 4096)) {
      std::string name(strings::trim(*text));
      if (!name.empty()) return name;
    }
  }
  return fail(Code::kFailedPrecondition,
              "byom: cannot tell the node name: NODE_NAME is not set and neither " + podinfoFile +
                  " nor " + hostnameFile + " holds one");
}

}  // namespace pp::providers::byom
