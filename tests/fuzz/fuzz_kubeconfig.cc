// kubeconfig files (peerpod-ctrl, the webhook and the tools read $KUBECONFIG): YAML with
// clusters, users and contexts, as k8s::kubeconfigFromText parses them. Relative paths resolve
// against a directory that does not exist, so nothing outside the input is read. The part of
// the input after a \x01 byte, if any, names the context to use.
//
// Invariants checked, on top of "no crash, no sanitizer report, no timeout":
// - an accepted configuration names an http(s) server.
#include <string>

#include "fuzz_check.h"
#include "k8s/config.h"

using pp::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = pp::fuzz::split(pp::fuzz::text(data, size));
  const std::string text(parts[0]);
  const std::string context = parts.size() > 1 ? std::string(parts[1]) : std::string();
  auto config = pp::k8s::kubeconfigFromText(text, "/nonexistent/kube", context);
  if (!config) return 0;
  check(config->server.starts_with("https://") || config->server.starts_with("http://"));
  return 0;
}
