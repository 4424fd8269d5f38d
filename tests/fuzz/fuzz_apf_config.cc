// apf.json as the forwarder reads it in the pod VM (/run/peerpod/apf.json, from user data the
// host wrote: untrusted in confidential mode), including its "pod-network" object.
//
// Invariants checked, on top of "no crash, no sanitizer report, no timeout":
// - what parses re-renders (toJson, the bytes Go's json.Marshal writes) to a document that parses
//   again and renders to the same bytes: a stable round trip;
// - the indented rendering parses to the same document too.
#include <string>

#include "apf/apf_config.h"
#include "fuzz_check.h"

using pp::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto config = pp::apf::ApfConfig::parse(pp::fuzz::text(data, size));
  if (!config) return 0;
  const std::string once = config->toJson();
  auto again = pp::apf::ApfConfig::parse(once);
  check(again.has_value());
  check(again->toJson() == once);
  auto indented = pp::apf::ApfConfig::parse(config->toJsonIndented());
  check(indented.has_value() && indented->toJson() == once);
  return 0;
}
