#include "csi/names.h"

#include <cctype>
#include <regex>
#include <vector>

namespace pp::csi {

namespace {

// Built by appending: GCC 12 at -O2 reports std::string::replace with a false -Wrestrict.
std::string replaceAll(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  size_t start = 0, pos;
  while ((pos = s.find(from, start)) != std::string_view::npos) {
    out.append(s.substr(start, pos - start));
    out.append(to);
    start = pos + from.size();
  }
  out.append(s.substr(start));
  return out;
}

// Go's filepath.Base: trailing slashes dropped, "" -> ".", all slashes -> "/".
std::string pathBase(std::string_view p) {
  if (p.empty()) return ".";
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  if (p == "/") return "/";
  size_t slash = p.rfind('/');
  return std::string(slash == std::string_view::npos ? p : p.substr(slash + 1));
}

}  // namespace

std::string normalizeVolumeId(std::string_view volumeId) {
  std::string s = replaceAll(volumeId, "###", ".");
  s = replaceAll(s, "#", ".");
  return pathBase(s);
}

std::string normalizeVmId(std::string_view vmId) {
  size_t slash = vmId.rfind('/');
  return std::string(slash == std::string_view::npos ? vmId : vmId.substr(slash + 1));
}

bool isAzureVmResourceId(std::string_view vmId) {
  static const std::regex re(
      "^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\\.Compute/"
      "(virtualMachines|virtualMachineScaleSets/[^/]+/virtualMachines)/[^/]+$",
      std::regex::icase | std::regex::ECMAScript);
  if (vmId.size() > 4096) return false;
  return std::regex_match(vmId.begin(), vmId.end(), re);
}

std::string nodeIdForVm(std::string_view vmId) {
  return isAzureVmResourceId(vmId) ? pathBase(vmId) : std::string(vmId);
}

std::optional<TargetPathParts> parseTargetPath(std::string_view targetPath) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= targetPath.size()) {
    size_t slash = targetPath.find('/', start);
    if (slash == std::string_view::npos) slash = targetPath.size();
    parts.push_back(targetPath.substr(start, slash - start));
    start = slash + 1;
  }
  // ... pods <uid> volumes kubernetes.io~csi <pv> mount
  if (parts.size() < 6) return std::nullopt;
  size_t n = parts.size();
  if (parts[n - 1] != "mount" || parts[n - 3] != "kubernetes.io~csi" || parts[n - 4] != "volumes" ||
      parts[n - 6] != "pods" || parts[n - 5].empty() || parts[n - 2].empty()) {
    return std::nullopt;
  }
  return TargetPathParts{std::string(parts[n - 5]), std::string(parts[n - 2])};
}

}  // namespace pp::csi
