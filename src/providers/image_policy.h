// -allowed-images: which pod VM images a pod may ask for with the annotation
// io.katacontainers.config.hypervisor.image. The annotation comes from whoever creates the
// pod; without a list, upstream passes it to the provider as is (any AMI, any libvirt volume,
// any container image).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace pp::providers {

// Matches `text` against a pattern where '*' stands for any run of characters (also none) and
// every other character for itself. Linear in practice, never recursive.
bool globMatch(std::string_view pattern, std::string_view text);

class ImagePolicy {
 public:
  ImagePolicy() = default;

  // Entries are image names or ids as the provider takes them, or patterns with '*'
  // ("ami-0abc*", "quay.io/confidential-containers/podvm-*"). Empty entries are ignored;
  // an entry with control characters is an error.
  static Result<ImagePolicy> parse(const std::vector<std::string>& entries);

  // Whether a list was given. Without one every image is allowed (upstream's behaviour).
  bool restricted() const { return !patterns_.empty(); }
  bool allows(std::string_view image) const;
  const std::vector<std::string>& patterns() const { return patterns_; }

 private:
  std::vector<std::string> patterns_;
};

}  // namespace pp::providers
