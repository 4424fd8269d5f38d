// Sandbox ids as an operator types them: like docker and kubectl, any prefix that names one
// sandbox in the pods directory is enough (`peerpodctl list` prints the first 12 characters).
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"

namespace pp::peerpodctl {

// The full id of the sandbox directory under `podsDir` whose name is `prefix` or starts with
// it. NOT_FOUND when none does (or the directory cannot be read), INVALID_ARGUMENT for an empty
// prefix or one several sandboxes share (the message lists them).
Result<std::string> resolveSandboxId(const std::string& podsDir, std::string_view prefix);

}  // namespace pp::peerpodctl
