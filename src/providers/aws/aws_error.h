// AWS Query API errors (EC2: <Response><Errors><Error>, STS: <ErrorResponse><Error>) and how
// they map to our status codes and to retry decisions.
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"

namespace pp::providers::aws {

struct AwsError {
  long httpStatus = 0;
  std::string code;       // "InvalidAMIID.NotFound"; "" for transport errors
  std::string message;    // AWS's own text, unchanged
  std::string requestId;
  Error transport;        // set when the request never got an answer

  // Throttling (RequestLimitExceeded, Throttling, ...), 5xx and transport failures.
  bool retryable() const;
  bool notFound() const;  // *.NotFound codes
  // "<action>: <Code>: <Message> (request id ...)", with a status code: NotFound -> NOT_FOUND,
  // auth -> PERMISSION_DENIED/UNAUTHENTICATED, limits -> RESOURCE_EXHAUSTED, Invalid*/Missing*
  // -> INVALID_ARGUMENT, throttling/5xx -> UNAVAILABLE.
  Error toError(std::string_view action) const;
};

// Reads the error document of a non-2xx answer; an unparsable body keeps the HTTP status and
// a short excerpt.
AwsError parseAwsError(long httpStatus, std::string_view body);

}  // namespace pp::providers::aws
