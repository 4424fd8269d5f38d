// The forwarder's request edits (upstream's pkg/forwarder/interceptor) and the helpers that
// make a container's mounts ready before kata-agent sees the request.
//
// Bind-mount sources: upstream mkdir -p's every missing one, as root, before kata-agent (and
// its policy) has seen the request, so whoever can send CreateContainer can create directories
// anywhere in the VM. Only two kinds are created here, the ones the runtime and the CSI flow
// need: paths under /run/kata-containers/ (where kata's runtime puts what it copies into the
// guest, e.g. shared/containers/<id>-...; a directory that was not copied must still exist to
// be mounted) and the CSI publish targets /var/lib/kubelet/pods/<uid>/volumes/kubernetes.io~csi/
// <pv>/mount that the adaptor listed in the peerpodvolumes target_path annotation (the podvm
// CSI wrapper mounts the volume there; the forwarder waits for it). Any other source is passed
// on unchanged and nothing is created: kata-agent and its policy decide. Creation walks from
// "/" with openat(O_NOFOLLOW | O_DIRECTORY), so no symbolic link (in the middle or at the end)
// and no ".." can take it outside those trees.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <asio/experimental/as_tuple.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>
#include <utility>

#include "base/files.h"
#include "base/log.h"
#include "forwarder/forwarder.h"
#include "peerpods/agent_edit.pb.h"

namespace pp::forwarder {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
constexpr auto kUse = asio::experimental::as_tuple(asio::use_awaitable);
constexpr char kLog[] = "forwarder";

// Like Go's filepath.Clean: lexical normalisation without a trailing slash.
std::string cleanPath(std::string_view p) {
  std::string out = std::filesystem::path(p).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescapeMountinfo(std::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      auto octal = [](char c) { return c >= '0' && c <= '7'; };
      if (octal(field[i + 1]) && octal(field[i + 2]) && octal(field[i + 3])) {
        out += static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                 (field[i + 3] - '0'));
        i += 3;
        continue;
      }
    }
    out += field[i];
  }
  return out;
}

// The components of an absolute path; nullopt when it is not clean ("", "." or ".."
// components, a NUL): such a path may not mean what it says, so it is never created.
std::optional<std::vector<std::string>> cleanComponents(std::string_view path) {
  if (path.empty() || path.front() != '/') return std::nullopt;
  std::vector<std::string> parts;
  size_t i = 1;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    if (part.empty() || part == "." || part == ".." || part.find('\0') != std::string_view::npos) {
      return std::nullopt;
    }
    parts.emplace_back(part);
    i = j + 1;
  }
  if (parts.empty()) return std::nullopt;
  return parts;
}

// /run/kata-containers/<something>.
bool isKataGuestPath(const std::vector<std::string>& p) {
  return p.size() >= 3 && p[0] == "run" && p[1] == "kata-containers";
}

// /var/lib/kubelet/pods/<uid>/volumes/kubernetes.io~csi/<pv>/mount: a CSI publish target.
bool isCsiTargetPath(const std::vector<std::string>& p) {
  return p.size() == 9 && p[0] == "var" && p[1] == "lib" && p[2] == "kubelet" && p[3] == "pods" &&
         p[5] == "volumes" && p[6] == "kubernetes.io~csi" && p[8] == "mount";
}

// Why `source` is not created ("" when it may be); `waitTargets` are the annotated CSI targets.
std::string refusalReason(std::string_view source, const std::vector<std::string>& waitTargets) {
  auto parts = cleanComponents(source);
  if (!parts) return "not a clean absolute path";
  if (isKataGuestPath(*parts)) return "";
  if (isCsiTargetPath(*parts)) {
    if (std::find(waitTargets.begin(), waitTargets.end(), source) != waitTargets.end()) return "";
    return "a CSI volume path not listed in the " + std::string(kTargetPathAnnotation) +
           " annotation";
  }
  return "outside /run/kata-containers and the CSI volume paths";
}

// Closes its descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

struct MakeDirsOutcome {
  bool created = false;  // something was created
  std::string refused;   // why the walk stopped short ("" when the path exists now)
};

// mkdir -p (0755) of `parts` below the directory `root`, one component at a time through
// directory descriptors, never following a link. An error only when the system fails, not
// the path.
Result<MakeDirsOutcome> makeDirsBelow(const std::string& root,
                                      const std::vector<std::string>& parts) {
  constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  Fd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) return fail(Code::kInternal, "open " + root + ": " + std::strerror(errno));
  MakeDirsOutcome out;
  std::string at;
  for (size_t i = 0; i < parts.size(); ++i) {
    const char* name = parts[i].c_str();
    const bool last = i + 1 == parts.size();
    at += "/" + parts[i];
    struct stat st {};
    if (::fstatat(dir.get(), name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (last) return out;  // there already, whatever it is: kata-agent decides
      if (S_ISLNK(st.st_mode)) return MakeDirsOutcome{out.created, at + " is a symbolic link"};
      if (!S_ISDIR(st.st_mode)) return MakeDirsOutcome{out.created, at + " is not a directory"};
    } else if (errno != ENOENT) {
      return fail(Code::kInternal, "inspect " + at + ": " + std::strerror(errno));
    } else {
      if (::mkdirat(dir.get(), name, 0755) != 0 && errno != EEXIST) {
        return fail(Code::kInternal, "create directory " + at + ": " + std::strerror(errno));
      }
      out.created = true;
    }
    if (last) break;
    Fd next(::openat(dir.get(), name, kDirFlags));
    // Replaced by a link or a file since fstatat: stop there.
    if (next.get() < 0) return MakeDirsOutcome{out.created, at + " changed while it was walked"};
    dir = std::move(next);
  }
  return out;
}

}  // namespace

// createBindSources below `root` instead of "/" (tests).
Status createBindSourcesUnder(const std::string& root, const std::vector<std::string>& sources) {
  for (const auto& source : sources) {
    // Checked again here, not only in editCreateContainer: whoever calls this, nothing else is
    // ever created. (CSI targets were checked against the annotation there.)
    auto parts = cleanComponents(source);
    if (!parts || !(isKataGuestPath(*parts) || isCsiTargetPath(*parts))) {
      log::warn(kLog,
                "not creating bind mount source {}: outside /run/kata-containers and the CSI "
                "volume paths",
                log::quote(source));
      continue;
    }
    auto outcome = makeDirsBelow(root, *parts);
    if (!outcome) return fail(outcome.error().wrap("bind mount source " + log::quote(source)));
    if (!outcome->refused.empty()) {
      log::warn(kLog, "not creating bind mount source {}: {}; kata-agent gets it as is",
                log::quote(source), outcome->refused);
    } else if (outcome->created) {
      log::info(kLog, "created missing bind mount source {}", log::quote(source));
    }
  }
  return {};
}

Result<std::string> editCreateSandbox(std::string_view payload) {
  ::peerpods::edit::CreateSandboxRequest req;
  if (!req.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return fail(Code::kInvalidArgument, "CreateSandbox: malformed request");
  }
  if (req.dns_size() > 0)
    log::info("forwarder",
              "CreateSandbox: dropping {} DNS entries, the pod VM keeps its resolv.conf",
              req.dns_size());
  req.clear_dns();
  return req.SerializeAsString();
}

Result<ContainerEdit> editCreateContainer(std::string_view payload,
                                          const std::string& podNamespace) {
  ::peerpods::edit::CreateContainerRequest req;
  if (!req.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return fail(Code::kInvalidArgument, "CreateContainer: malformed request");
  }
  ContainerEdit edit;
  edit.containerId = req.container_id();
  auto* spec = req.mutable_oci();
  // Replace the path of an existing network namespace rather than adding a second one: the
  // agent would take either.
  auto* namespaces = spec->mutable_linux()->mutable_namespaces();
  bool found = false;
  for (auto& ns : *namespaces) {
    if (ns.type() != "network") continue;
    ns.set_path(podNamespace);
    found = true;
  }
  if (!found) {
    auto* ns = namespaces->Add();
    ns->set_type("network");
    ns->set_path(podNamespace);
  }
  const auto& annotations = spec->annotations();
  if (auto it = annotations.find(kTargetPathAnnotation); it != annotations.end()) {
    std::string_view list = it->second;
    while (!list.empty()) {
      auto comma = list.find(',');
      std::string_view item = list.substr(0, comma);
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
      // Upstream's proxy can produce a leading comma; empty items mean nothing.
      if (!item.empty()) edit.waitTargets.push_back(cleanPath(item));
    }
  }
  for (const auto& m : spec->mounts()) {
    if (m.type() != "bind" || m.source().empty()) continue;
    if (auto why = refusalReason(m.source(), edit.waitTargets); !why.empty()) {
      log::info(kLog,
                "CreateContainer {}: bind mount source {} is not created if missing ({}); "
                "kata-agent decides",
                log::quote(edit.containerId), log::quote(m.source()), why);
      continue;
    }
    edit.bindSources.push_back(m.source());
  }
  edit.payload = req.SerializeAsString();
  return edit;
}

Status createBindSources(const std::vector<std::string>& sources) {
  return createBindSourcesUnder("/", sources);
}

std::vector<std::string> parseMountPoints(std::string_view mountinfo) {
  // "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw": the 5th field.
  std::vector<std::string> out;
  while (!mountinfo.empty()) {
    auto nl = mountinfo.find('\n');
    std::string_view line = mountinfo.substr(0, nl);
    mountinfo = nl == std::string_view::npos ? std::string_view() : mountinfo.substr(nl + 1);
    int field = 0;
    while (!line.empty()) {
      auto sp = line.find(' ');
      std::string_view token = line.substr(0, sp);
      line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
      if (++field == 5) {
        out.push_back(unescapeMountinfo(token));
        break;
      }
    }
  }
  return out;
}

asio::awaitable<Status> waitForMounts(const std::vector<std::string>& targets,
                                      Clock::time_point deadline,
                                      const std::string& mountinfoPath) {
  auto backoff = std::chrono::milliseconds(100);
  while (true) {
    auto text = files::readFile(mountinfoPath);
    if (!text) co_return fail(text.error());
    auto points = parseMountPoints(*text);
    std::set<std::string> mounted(points.begin(), points.end());
    std::string missing;
    for (const auto& t : targets) {
      if (mounted.contains(t)) continue;
      if (!missing.empty()) missing += ", ";
      missing += t;
    }
    if (missing.empty()) co_return Status{};
    auto now = Clock::now();
    if (now >= deadline)
      co_return fail(Code::kDeadlineExceeded, "volumes not mounted in time: " + missing);
    asio::steady_timer timer(co_await asio::this_coro::executor,
                             std::min<Clock::duration>(backoff, deadline - now));
    co_await timer.async_wait(kUse);
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(5));
  }
}

}  // namespace pp::forwarder
