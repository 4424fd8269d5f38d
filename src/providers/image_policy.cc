#include "providers/image_policy.h"

#include <algorithm>

namespace pp::providers {

bool globMatch(std::string_view pattern, std::string_view text) {
  // The classic two-pointer matcher: on a mismatch, go back to the last '*' and let it take
  // one more character. No backtracking beyond that one star, so no blow-up.
  size_t p = 0;
  size_t t = 0;
  size_t star = std::string_view::npos;
  size_t starText = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      starText = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++starText;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Result<ImagePolicy> ImagePolicy::parse(const std::vector<std::string>& entries) {
  ImagePolicy policy;
  for (const auto& entry : entries) {
    if (entry.empty()) continue;
    if (std::any_of(entry.begin(), entry.end(),
                    [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
      return fail(Code::kInvalidArgument, "-allowed-images: an entry contains control characters");
    }
    policy.patterns_.push_back(entry);
  }
  return policy;
}

bool ImagePolicy::allows(std::string_view image) const {
  if (patterns_.empty()) return true;
  return std::any_of(patterns_.begin(), patterns_.end(),
                     [&](const std::string& pattern) { return globMatch(pattern, image); });
}

}  // namespace pp::providers
