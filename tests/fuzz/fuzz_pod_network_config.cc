// The pod-network configuration (podnetwork::PodNetworkConfig), which reaches the pod VM inside
// apf.json and is parsed on its own (parse) or from an already parsed JSON value (fromJson).
//
// Invariants checked, on top of "no crash, no sanitizer report, no timeout":
// - parse and fromJson(json::parse) agree on which documents they accept;
// - what parses renders (toJsonString) to a document that parses again and renders the same.
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz_check.h"
#include "podnetwork/config.h"

using pp::fuzz::check;
using pp::podnetwork::PodNetworkConfig;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = pp::fuzz::text(data, size);
  auto config = PodNetworkConfig::parse(input);

  auto json = nlohmann::json::parse(input, nullptr, false);
  if (!json.is_discarded()) {
    auto fromJson = PodNetworkConfig::fromJson(json);
    if (config) check(fromJson.has_value());
  }

  if (!config) return 0;
  const std::string once = config->toJsonString();
  auto again = PodNetworkConfig::parse(once);
  check(again.has_value());
  check(again->toJsonString() == once);
  return 0;
}
