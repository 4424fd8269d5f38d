// The /mutate-v1-pod endpoint without the transport: an AdmissionReview (admission.k8s.io/v1,
// or v1beta1 which has the same shape) in, an AdmissionReview out whose response carries the
// request's uid, `allowed` and, when the pod changes, a base64 RFC 6902 JSON patch.
//
// Untrusted input is handled strictly and never crashes: bodies over the size limit, other
// content types, malformed JSON, nesting deeper than a pod can be, a review of the wrong
// apiVersion/kind, a missing uid or object all get a review with allowed=false and
// status {code 400 (413 for size), message}, as controller-runtime answers such requests.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "webhook/pod_mutator.h"

namespace pp::webhook {

// controller-runtime's limit on an admission request body.
inline constexpr size_t kMaxReviewBytes = 7u << 20;
// Deeper JSON is refused before it is built (a pod, managedFields included, is far shallower).
inline constexpr int kMaxReviewDepth = 100;

struct AdmissionOutcome {
  enum class Kind { kMutated, kUnchanged, kRejected };
  Kind kind = Kind::kRejected;
  int httpStatus = 200;  // the HTTP status to answer with (the review itself carries errors)
  std::string body;      // the AdmissionReview JSON
  std::string message;   // why it was rejected, or a summary for the log
  std::string uid;       // the request's uid, when it had one
  std::string podName;   // namespace/name (or generateName) for logs
  std::vector<std::string> patchPaths;  // the patch ops' paths, for logs and tests
};

class AdmissionHandler {
 public:
  explicit AdmissionHandler(MutatorConfig config) : config_(std::move(config)) {}

  // `contentType` is the request's Content-Type header.
  AdmissionOutcome handle(std::string_view contentType, std::string_view body) const;

  const MutatorConfig& config() const { return config_; }

 private:
  MutatorConfig config_;
};

}  // namespace pp::webhook
