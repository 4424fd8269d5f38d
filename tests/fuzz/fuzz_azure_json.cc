// Azure answers as the azure provider reads them: the Entra ID / managed-identity token answer
// (parseTokenResponse), ARM error bodies (armErrorText over the JSON the ARM client parsed) and
// Retry-After headers (the kit's parseRetryAfter, which every provider uses).
//
// Invariants checked, on top of "no crash, no sanitizer report, no timeout":
// - an accepted token is non-empty with a positive lifetime;
// - armErrorText stays bounded.
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz_check.h"
#include "providers/azure/arm_client.h"
#include "providers/azure/auth.h"
#include "providers/cloud_api.h"

using pp::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = pp::fuzz::text(data, size);
  std::chrono::seconds lifetime{0};
  if (auto token = pp::providers::azure::parseTokenResponse(std::string(input), &lifetime)) {
    check(!token->empty());
    check(lifetime.count() > 0);
  }
  auto body = nlohmann::json::parse(input, nullptr, false);
  if (!body.is_discarded()) {
    const std::string text = pp::providers::azure::armErrorText(body);
    check(text.size() <= 4096);
  }
  if (auto delay = pp::providers::parseRetryAfter(input)) check(delay->count() >= 0);
  return 0;
}
