// AWS Query API errors (EC2: <Response><Errors><Error>, STS: <ErrorResponse><Error>) and how
// they map to our status codes and to retry decisions.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace pp::providers::aws {

struct AwsError {
  long httpStatus = 0;
  std::string code;     // "InvalidAMIID.NotFound"; "" for transport errors
  std::string message;  // AWS's own text, unchanged
  std::string requestId;
  Error transport;  // set when the request never got an answer
  // The server's clock (the answer's Date header), to correct our own when it is off.
  std::optional<std::chrono::system_clock::time_point> serverTime;

  // Throttling (RequestLimitExceeded, Throttling, ...), 5xx and transport failures.
  bool retryable() const;
  // RequestLimitExceeded, Throttling... or HTTP 429.
  bool throttled() const;
  bool notFound() const;  // *.NotFound codes
  // Codes with which AWS refuses a request signed at a time too far from its own.
  bool clockSkewed() const;
  // "<action>: <Code>: <Message> (request id ...)", with a status code: NotFound -> NOT_FOUND,
  // auth -> PERMISSION_DENIED/UNAUTHENTICATED, limits -> RESOURCE_EXHAUSTED, Invalid*/Missing*
  // -> INVALID_ARGUMENT, throttling/5xx -> UNAVAILABLE.
  Error toError(std::string_view action) const;
};

// Reads the error document of a non-2xx answer; an unparsable body keeps the HTTP status and
// a short excerpt.
AwsError parseAwsError(long httpStatus, std::string_view body);

// An HTTP date ("Sun, 29 Nov 2026 00:30:00 GMT"); nullopt when malformed.
std::optional<std::chrono::system_clock::time_point> parseHttpDate(std::string_view text);

}  // namespace pp::providers::aws
