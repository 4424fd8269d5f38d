// The webhook's /mutate-v1-pod body: an AdmissionReview from the API server (or from anyone who
// can reach the webhook's port), through the real handler (AdmissionHandler::handle).
//
// Invariants checked, on top of "no crash, no sanitizer report, no timeout":
// - every outcome has an HTTP status and a body that is a JSON AdmissionReview with a response;
// - a rejection says why; a mutation carries at least one patch path, and its response has a
//   base64 JSON patch that decodes to a JSON array.
#include <nlohmann/json.hpp>
#include <string>

#include "base/encoding.h"
#include "fuzz_check.h"
#include "webhook/admission.h"

using pp::fuzz::check;
using pp::webhook::AdmissionOutcome;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const pp::webhook::AdmissionHandler handler{pp::webhook::MutatorConfig{}};
  const AdmissionOutcome out = handler.handle("application/json", pp::fuzz::text(data, size));
  check(out.httpStatus >= 200 && out.httpStatus < 600);
  auto review = nlohmann::json::parse(out.body, nullptr, false);
  check(review.is_object() && review.contains("response") && review["response"].is_object());
  const auto& response = review["response"];
  switch (out.kind) {
    case AdmissionOutcome::Kind::kRejected:
      check(!out.message.empty());
      break;
    case AdmissionOutcome::Kind::kMutated: {
      check(!out.patchPaths.empty());
      check(response.contains("patch") && response["patch"].is_string());
      auto patch = pp::encoding::base64Decode(response["patch"].get<std::string>());
      check(patch.has_value());
      auto ops = nlohmann::json::parse(*patch, nullptr, false);
      check(ops.is_array() && ops.size() == out.patchPaths.size());
      break;
    }
    case AdmissionOutcome::Kind::kUnchanged:
      check(!response.contains("patch"));
      break;
  }
  return 0;
}
