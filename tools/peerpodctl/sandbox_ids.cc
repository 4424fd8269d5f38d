#include "sandbox_ids.h"

#include <algorithm>
#include <filesystem>
#include <vector>

namespace pp::peerpodctl {

Result<std::string> resolveSandboxId(const std::string& podsDir, std::string_view prefix) {
  if (prefix.empty()) return fail(Code::kInvalidArgument, "empty sandbox id");
  std::error_code ec;
  std::vector<std::string> matches;
  for (const auto& entry : std::filesystem::directory_iterator(podsDir, ec)) {
    if (!entry.is_directory(ec)) continue;
    std::string name = entry.path().filename().string();
    if (name == prefix) return name;  // a full id wins even if it prefixes another
    if (name.starts_with(prefix)) matches.push_back(std::move(name));
  }
  if (ec) {
    return fail(Code::kNotFound, "no sandbox " + std::string(prefix) + ": cannot read " + podsDir +
                                     ": " + ec.message());
  }
  if (matches.empty()) {
    return fail(Code::kNotFound,
                "no sandbox id starts with " + std::string(prefix) + " in " + podsDir);
  }
  if (matches.size() > 1) {
    std::sort(matches.begin(), matches.end());
    std::string list;
    for (const auto& m : matches) list += (list.empty() ? "" : ", ") + m;
    return fail(Code::kInvalidArgument,
                "sandbox id prefix " + std::string(prefix) + " is ambiguous: it matches " + list);
  }
  return matches[0];
}

}  // namespace pp::peerpodctl
