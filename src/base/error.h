// Error values shared by every module. An Error carries a status code (the gRPC/ttrpc code it
// maps to on the wire) and a message a user can act on.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace pp {

// google.rpc.Code values (google/rpc/code.proto).
enum class Code : int32_t {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

std::string_view codeName(Code code);

struct Error {
  Code code = Code::kUnknown;
  std::string message;

  Error() = default;
  Error(Code c, std::string m) : code(c), message(std::move(m)) {}

  // "NOT_FOUND: sandbox abc is unknown"
  std::string toString() const;

  // Prefix the message with context, keeping the code: "starting VM: <message>".
  Error wrap(std::string_view context) const&;
  Error wrap(std::string_view context) &&;
};

template <typename T>
using Result = std::expected<T, Error>;

using Status = std::expected<void, Error>;

inline std::unexpected<Error> fail(Code code, std::string message) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}

inline std::unexpected<Error> fail(Error error) {
  return std::unexpected<Error>(std::move(error));
}

}  // namespace pp
