// Encoding of the ttrpc.Request / ttrpc.Response envelope (containerd/ttrpc request.proto: Request
// {service = 1, method = 2, payload = 3, timeout_nano = 4, metadata = 5}, Response {status = 1,
// payload = 2}).
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"
#include "ttrpc/server.h"

namespace pp::ttrpc {

// Go-server style: success omits the status and an empty payload gives a zero-length body;
// errors carry google.rpc.Status{code, message}.
std::string encodeResponse(const Result<std::string>& result);

// Accepts Go-style (no status) and Rust-style (status code 0) success; a non-zero code becomes
// the Error. Returns the payload on success.
Result<std::string> decodeResponse(std::string_view body);

std::string encodeRequest(std::string_view service, std::string_view method,
                          std::string_view payload, int64_t timeoutNano, const Metadata& metadata);

}  // namespace pp::ttrpc
