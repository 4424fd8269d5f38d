// AWS Query API error parsing and classification (see aws_error.h).
#include "providers/aws/aws_error.h"

#include <array>
#include <ctime>

#include "providers/aws/xml.h"

namespace pp::providers::aws {
namespace {

constexpr std::array<std::string_view, 9> kThrottleCodes = {"RequestLimitExceeded",
                                                            "Throttling",
                                                            "ThrottlingException",
                                                            "RequestThrottled",
                                                            "RequestThrottledException",
                                                            "TooManyRequestsException",
                                                            "SlowDown",
                                                            "PriorRequestNotComplete",
                                                            "EC2ThrottledException"};
constexpr std::array<std::string_view, 6> kTransientCodes = {
    "InternalError", "InternalFailure", "ServiceUnavailable",
    "Unavailable",   "RequestTimeout",  "IDPCommunicationError"};

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : ' ';
  return out;
}

}  // namespace

bool AwsError::retryable() const {
  if (code.empty() && transport.code != Code::kOk && httpStatus == 0) {
    return transport.code == Code::kUnavailable || transport.code == Code::kDeadlineExceeded;
  }
  if (throttled()) return true;
  for (auto c : kTransientCodes)
    if (code == c) return true;
  return httpStatus >= 500;
}

bool AwsError::throttled() const {
  for (auto c : kThrottleCodes)
    if (code == c) return true;
  return httpStatus == 429;
}

bool AwsError::clockSkewed() const {
  return code == "RequestExpired" || code == "RequestTimeTooSkewed" ||
         code == "RequestInTheFuture" || code == "InvalidSignatureException" ||
         code == "SignatureDoesNotMatch";
}

std::optional<std::chrono::system_clock::time_point> parseHttpDate(std::string_view text) {
  if (text.size() > 64) return std::nullopt;
  std::string t(text);
  std::tm tm{};
  const char* end = strptime(t.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

bool AwsError::notFound() const {
  return std::string_view(code).ends_with(".NotFound") ||
         std::string_view(code).ends_with("NotFound");
}

Error AwsError::toError(std::string_view action) const {
  if (code.empty() && httpStatus == 0) return transport.wrap(action);
  Code c = Code::kUnknown;
  if (notFound())
    c = Code::kNotFound;
  else if (code == "AuthFailure" || code == "InvalidClientTokenId" ||
           code == "SignatureDoesNotMatch" || code == "ExpiredToken" || code == "RequestExpired" ||
           code == "InvalidIdentityToken" || code == "ExpiredTokenException")
    c = Code::kUnauthenticated;
  else if (code == "UnauthorizedOperation" || code == "AccessDenied" || code == "OptInRequired" ||
           code == "Blocked")
    c = Code::kPermissionDenied;
  else if (code == "InsufficientInstanceCapacity" || code == "InstanceLimitExceeded" ||
           code == "VcpuLimitExceeded" ||
           (std::string_view(code).ends_with("LimitExceeded") && code != "RequestLimitExceeded"))
    c = Code::kResourceExhausted;
  else if (retryable())
    c = Code::kUnavailable;
  else if (std::string_view(code).starts_with("Invalid") ||
           std::string_view(code).starts_with("Missing") || code == "UnsupportedOperation" ||
           code == "Unsupported" || code == "ValidationError" ||
           code == "IdempotentParameterMismatch")
    c = Code::kInvalidArgument;
  else if (httpStatus >= 400 && httpStatus < 500)
    c = Code::kFailedPrecondition;
  std::string msg = std::string(action) + ": ";
  msg += code.empty() ? "HTTP " + std::to_string(httpStatus) : code;
  if (!message.empty()) msg += ": " + message;
  if (!requestId.empty()) msg += " (request id " + requestId + ")";
  return Error(c, std::move(msg));
}

AwsError parseAwsError(long httpStatus, std::string_view body) {
  AwsError e;
  e.httpStatus = httpStatus;
  auto doc = parseXml(body, XmlLimits{.maxBytes = 1 << 20, .maxDepth = 16, .maxElements = 1000});
  if (doc) {
    const XmlElement* err = nullptr;
    if (doc->name == "Response") {
      err = doc->find({"Errors", "Error"});
      e.requestId = doc->childText("RequestID");
    } else if (doc->name == "ErrorResponse") {
      err = doc->child("Error");
      e.requestId = doc->childText("RequestId");
    }
    if (err != nullptr) {
      e.code = err->childText("Code");
      e.message = err->childText("Message");
      return e;
    }
  }
  if (!body.empty()) e.message = "unexpected answer: " + printable(body);
  return e;
}

}  // namespace pp::providers::aws
