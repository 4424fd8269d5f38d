// The forwarder's request edits (upstream's pkg/forwarder/interceptor) and the helpers that
// make a container's mounts ready before kata-agent sees the request.
#include <asio/experimental/as_tuple.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <filesystem>
#include <set>

#include "base/files.h"
#include "base/log.h"
#include "forwarder/forwarder.h"
#include "peerpods/agent_edit.pb.h"

namespace pp::forwarder {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
constexpr auto kUse = asio::experimental::as_tuple(asio::use_awaitable);

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

}  // namespace

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
  for (const auto& m : spec->mounts()) {
    if (m.type() == "bind" && !m.source().empty()) edit.bindSources.push_back(m.source());
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
  edit.payload = req.SerializeAsString();
  return edit;
}

Status createBindSources(const std::vector<std::string>& sources) {
  for (const auto& source : sources) {
    std::error_code ec;
    if (std::filesystem::exists(source, ec)) continue;
    if (auto st = files::makeDirs(source, 0755); !st)
      return fail(st.error().wrap("bind mount source"));
    log::info("forwarder", "created missing bind mount source {}", source);
  }
  return {};
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
